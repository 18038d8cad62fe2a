"""Shape data: surface point clouds sampled from real meshes, normalised to the unit sphere.

Every shape, whether from the bundled file (``data/shapes/shapes.npz``, built by
``scripts/build_shape_data.py``) or from a user's directory of meshes, goes through the
same two steps:

1. :func:`sample_surface`: ``num_points`` points drawn uniformly by area from the mesh
   surface (trimesh), with the face normals at those points.
2. :func:`normalise`: subtract the points' mean and divide by their largest distance from
   it, so every shape lies in the **unit sphere** (max radius 1, centroid at the origin).
   Units are therefore "shape radii", not metres; the scale is kept in ``scale`` for
   callers that want their model's units back.

The bundled file stores points as float16 (error <= 5e-4, well under the ~0.08 spacing
of 2,048 points on a unit-radius shape) and normals as int8 (``round(127 n)``).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from molediff.utils.errors import InputError

#: file suffixes trimesh reads as meshes (the ones a user directory may contain)
MESH_SUFFIXES: tuple[str, ...] = (".obj", ".ply", ".stl", ".off", ".glb", ".gltf")
#: the bundled shape file, relative to the repository / installed package root
DEFAULT_SHAPES = Path(__file__).resolve().parents[3] / "data" / "shapes" / "shapes.npz"
SPLIT_NAMES: tuple[str, ...] = ("train", "valid", "test")


@dataclass
class ShapeSet:
    """Point clouds of several shapes (unit-sphere normalised).

    Attributes:
        points: ``[S, P, 3]`` float32 surface points.
        normals: ``[S, P, 3]`` float32 unit normals (zeros where unknown).
        labels: ``[S]`` int class index into ``classes``.
        names: shape names (source-relative paths).
        classes: class names.
        part: ``[S]`` int8 split part (0 train, 1 valid, 2 test).
    """

    points: np.ndarray
    normals: np.ndarray
    labels: np.ndarray
    names: list[str]
    classes: list[str]
    part: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int8))

    def __len__(self) -> int:
        return len(self.points)

    def subset(self, split: str) -> ShapeSet:
        """The shapes of one split part (``train`` / ``valid`` / ``test``)."""
        if split not in SPLIT_NAMES:
            raise ValueError(f"split must be one of {SPLIT_NAMES}, got {split!r}")
        keep = np.flatnonzero(self.part == SPLIT_NAMES.index(split))
        return ShapeSet(self.points[keep], self.normals[keep], self.labels[keep],
                        [self.names[k] for k in keep], self.classes, self.part[keep])


def load_mesh(path: str | Path):
    """One ``trimesh.Trimesh`` from a mesh file (scenes are concatenated).

    Raises:
        InputError: unsupported suffix, unreadable file, or an empty / degenerate mesh
            (no faces or zero surface area).
    """
    import trimesh

    path = Path(path)
    if path.suffix.lower() not in MESH_SUFFIXES:
        raise InputError(f"{path}: unsupported mesh file type {path.suffix or '(none)'!r} "
                         f"(supported: {', '.join(MESH_SUFFIXES)})")
    if not path.is_file():
        raise InputError(f"{path}: no such file")
    try:
        mesh = trimesh.load(str(path), force="mesh", process=True)
    except Exception as exc:  # noqa: BLE001 - trimesh raises many types for bad files
        raise InputError(f"{path}: cannot read mesh ({type(exc).__name__}: {exc})") from None
    if not isinstance(mesh, trimesh.Trimesh) or len(mesh.faces) == 0:
        raise InputError(f"{path}: empty mesh (no faces)")
    if not np.isfinite(mesh.vertices).all():
        raise InputError(f"{path}: mesh has non-finite vertices")
    if not mesh.area > 1e-12:
        raise InputError(f"{path}: degenerate mesh (zero surface area)")
    return mesh


def sample_surface(mesh, num_points: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """``num_points`` points uniformly by area on ``mesh`` and their face normals
    (``[P, 3]`` float64 each); deterministic for a fixed ``seed``."""
    import trimesh

    points, face = trimesh.sample.sample_surface(mesh, num_points, seed=seed)
    return np.asarray(points, np.float64), np.asarray(mesh.face_normals[face], np.float64)


def normalise(points: np.ndarray) -> tuple[np.ndarray, np.ndarray, float]:
    """Unit-sphere normalisation: ``(points - centre) / scale`` with ``centre`` the mean
    and ``scale`` the largest distance from it. Returns ``(normalised, centre, scale)``.

    Raises:
        InputError: non-finite points or all points at one place.
    """
    points = np.asarray(points, np.float64)
    if points.ndim != 2 or points.shape[1] != 3:
        raise InputError(f"points must have shape [P, 3], got {list(points.shape)}")
    if not np.isfinite(points).all():
        raise InputError("points contain NaN or infinite values")
    centre = points.mean(0)
    scale = float(np.linalg.norm(points - centre, axis=1).max())
    if not scale > 1e-9:
        raise InputError("degenerate shape: all points coincide")
    return (points - centre) / scale, centre, scale


def mesh_point_cloud(path: str | Path, num_points: int, seed: int = 0
                     ) -> tuple[np.ndarray, np.ndarray]:
    """A mesh file -> ``(points, normals)``, ``[P, 3]`` float32, unit-sphere normalised."""
    mesh = load_mesh(path)
    pts, nrm = sample_surface(mesh, num_points, seed)
    pts, _, _ = normalise(pts)
    return pts.astype(np.float32), nrm.astype(np.float32)


def split_part(name: str, fractions: tuple[float, float] = (0.1, 0.1)) -> int:
    """Deterministic split part of a shape from a hash of its name (0 train, 1 valid,
    2 test), so adding shapes never moves existing ones."""
    u = int(hashlib.sha256(name.encode()).hexdigest()[:12], 16) / float(16**12)
    if u < fractions[1]:
        return 2
    if u < fractions[0] + fractions[1]:
        return 1
    return 0


def load_shape_file(path: str | Path = DEFAULT_SHAPES) -> ShapeSet:
    """Read a shape file written by ``scripts/build_shape_data.py``."""
    path = Path(path)
    if not path.is_file():
        raise InputError(f"{path}: shape file not found (build it with "
                         "scripts/build_shape_data.py)")
    with np.load(path, allow_pickle=False) as z:
        return ShapeSet(points=z["points"].astype(np.float32),
                        normals=z["normals"].astype(np.float32) / 127.0,
                        labels=z["labels"].astype(np.int64), names=[str(s) for s in z["names"]],
                        classes=[str(s) for s in z["classes"]], part=z["part"].astype(np.int8))


def load_mesh_dir(directory: str | Path, num_points: int, seed: int = 0) -> ShapeSet:
    """Every mesh file under ``directory`` (recursively) as one class ``"user"``, split by
    name hash. Files that fail to load are skipped; no loadable mesh is an error."""
    directory = Path(directory)
    if not directory.is_dir():
        raise InputError(f"{directory}: not a directory of meshes")
    files = sorted(p for p in directory.rglob("*") if p.suffix.lower() in MESH_SUFFIXES)
    pts, nrm, names = [], [], []
    for f in files:
        try:
            p, n = mesh_point_cloud(f, num_points, seed)
        except InputError:
            continue
        pts.append(p)
        nrm.append(n)
        names.append(str(f.relative_to(directory)))
    if not pts:
        raise InputError(f"{directory}: no loadable mesh ({', '.join(MESH_SUFFIXES)})")
    return ShapeSet(np.stack(pts), np.stack(nrm), np.zeros(len(pts), np.int64), names,
                    ["user"], np.array([split_part(s) for s in names], np.int8))


#: point-cloud file suffixes :func:`read_points` understands
POINT_SUFFIXES: tuple[str, ...] = (".ply", ".npy", ".xyz", ".txt", ".csv")


def read_points(path: str | Path) -> np.ndarray:
    """Points ``[P, 3]`` (float64) from a PLY (vertices; trimesh), ``.npy`` array, or a text
    file of ``x y z`` rows (``.xyz`` / ``.txt``; ``.csv`` with commas, a header line is
    skipped). Raises :class:`InputError` with one clear message for anything else."""
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in POINT_SUFFIXES:
        raise InputError(f"{path}: unsupported point file type {suffix or '(none)'!r} "
                         f"(supported: {', '.join(POINT_SUFFIXES)})")
    if not path.is_file():
        raise InputError(f"{path}: no such file")
    try:
        if suffix == ".ply":
            import trimesh

            pts = np.asarray(trimesh.load(str(path), process=False).vertices)
        elif suffix == ".npy":
            pts = np.load(path, allow_pickle=False)
        else:
            delim = "," if suffix == ".csv" else None
            with open(path, encoding="utf-8") as fh:
                rows = [ln for ln in fh if ln.strip() and not ln.lstrip().startswith("#")]
            if rows and not _numeric_row(rows[0]):
                rows = rows[1:]  # a header line
            pts = np.loadtxt(rows, delimiter=delim, ndmin=2)[:, :3] if rows else np.zeros((0, 3))
    except InputError:
        raise
    except Exception as exc:  # noqa: BLE001 - numpy / trimesh raise many types
        raise InputError(f"{path}: cannot read points ({type(exc).__name__}: {exc})") from None
    pts = np.asarray(pts, np.float64)
    if pts.ndim != 2 or pts.shape[1] != 3:
        raise InputError(f"{path}: points must be [P, 3], got {list(pts.shape)}")
    if len(pts) == 0:
        raise InputError(f"{path}: no points")
    if not np.isfinite(pts).all():
        raise InputError(f"{path}: points contain NaN or infinite values")
    return pts


def _numeric_row(line: str) -> bool:
    try:
        [float(t) for t in line.replace(",", " ").split()]
    except ValueError:
        return False
    return True
