"""Files from generated shapes: PLY point clouds (with normals estimated from the mesh),
meshes as PLY / OBJ / GLB / STL (trimesh), a PNG preview sheet (matplotlib) and
``assets.json`` with each asset's measurements. Every file is written atomically."""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from molediff.utils.errors import UsageError
from molediff.utils.io import atomic_write_bytes, atomic_write_text

MESH_FORMATS: tuple[str, ...] = ("ply", "obj", "glb", "stl")


def check_formats(formats: Sequence[str]) -> list[str]:
    """Lower-cased mesh formats; :class:`UsageError` on an unknown one."""
    out = [str(f).lower().lstrip(".") for f in formats]
    bad = [f for f in out if f not in MESH_FORMATS]
    if bad:
        raise UsageError(f"unsupported mesh format(s) {', '.join(bad)} "
                         f"(supported: {', '.join(MESH_FORMATS)})")
    return out


def points_ply(points: np.ndarray, normals: np.ndarray | None = None) -> bytes:
    """A binary PLY of points (and per-point normals when given)."""
    import trimesh
    from trimesh.exchange.ply import export_ply

    cloud = trimesh.Trimesh(vertices=np.asarray(points, np.float64),
                            faces=np.zeros((0, 3), np.int64), process=False,
                            vertex_normals=None if normals is None else np.asarray(normals))
    return export_ply(cloud, encoding="binary", vertex_normal=normals is not None)


def mesh_bytes(mesh: Any, fmt: str) -> bytes:
    """``mesh`` in one of :data:`MESH_FORMATS` (trimesh's exporters)."""
    data = mesh.export(file_type=fmt)
    return data.encode() if isinstance(data, str) else bytes(data)


def preview_png(samples: Sequence[Any], columns: int = 4, dpi: int = 80) -> bytes:
    """A sheet with one 3D scatter per shape (mesh method and watertightness in the title)."""
    import io

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    n = max(len(samples), 1)
    cols = min(columns, n)
    rows = math.ceil(n / cols)
    fig = plt.figure(figsize=(3 * cols, 3 * rows))
    for k, s in enumerate(samples):
        ax = fig.add_subplot(rows, cols, k + 1, projection="3d")
        p = s.points
        if s.mesh is not None:  # the exported surface, shaded by its normal
            v, f = s.mesh.mesh.vertices, s.mesh.mesh.faces
            ax.plot_trisurf(v[:, 0], v[:, 2], v[:, 1], triangles=f, color="#8fb3d9",
                            linewidth=0, shade=True)
        else:
            ax.scatter(p[:, 0], p[:, 2], p[:, 1], s=1.5, c=p[:, 1], cmap="viridis")
        lim = float(np.abs(p).max()) if len(p) else 1.0
        for setter in (ax.set_xlim, ax.set_ylim, ax.set_zlim):
            setter(-lim, lim)
        ax.set_box_aspect((1, 1, 1), zoom=1.3)
        ax.set_axis_off()
        title = f"{k:03d}" + (f" {s.label}" if s.label else "")
        if s.mesh is not None:
            title += f"\n{s.mesh.method}, {'watertight' if s.mesh.watertight else 'open'}"
        ax.set_title(title, fontsize=8)
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi)
    plt.close(fig)
    return buf.getvalue()


def asset_metrics(samples: Sequence[Any]) -> dict[str, float]:
    """Counts and mesh quality of generated shapes (what ``metrics.json`` reports)."""
    out: dict[str, float] = {"num_shapes": float(len(samples))}
    for key in ("requested", "dropped", "resampled"):
        if hasattr(samples, key):
            out[key] = float(getattr(samples, key))
    meshed = [s.mesh for s in samples if s.mesh is not None]
    if meshed:
        ratio = np.array([m.chamfer / max(m.spacing, 1e-12) for m in meshed])
        out |= {
            "watertight_single_body": float(np.mean([m.ok for m in meshed])),
            "voxel_method": float(np.mean([m.method == "voxel" for m in meshed])),
            "mean_volume": float(np.mean([m.volume for m in meshed])),
            "mean_chamfer_over_spacing": float(ratio.mean()),
            "chamfer_within_1_5_spacing": float(np.mean(ratio <= 1.5)),
            "mean_mesh_seconds": float(np.mean([m.seconds for m in meshed])),
        }
    return out


def export_shapes(samples: Sequence[Any], out_dir: str | Path,
                  formats: Sequence[str] = MESH_FORMATS, preview: bool = True,
                  prefix: str = "shape") -> list[Path]:
    """Write ``<prefix>_NNN_points.ply`` and ``<prefix>_NNN.<fmt>`` per sample, then
    ``preview.png`` and ``assets.json``; return the paths written."""
    from molediff.domains.pointclouds.meshing import estimate_normals

    formats = check_formats(formats)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    files: list[Path] = []
    assets = []
    for k, s in enumerate(samples):
        stem = f"{prefix}_{k:03d}"
        normals = estimate_normals(s.mesh.mesh, s.points) if s.mesh is not None else None
        files.append(atomic_write_bytes(out / f"{stem}_points.ply", points_ply(s.points, normals)))
        record: dict[str, Any] = {"name": stem, "label": s.label, "points": int(len(s.points)),
                                  "rounds": s.rounds, "files": [f"{stem}_points.ply"]}
        if s.mesh is not None:
            for fmt in formats:
                files.append(atomic_write_bytes(out / f"{stem}.{fmt}", mesh_bytes(s.mesh.mesh, fmt)))
                record["files"].append(f"{stem}.{fmt}")
            record |= s.mesh.summary()
        assets.append(record)
    if preview and len(samples):
        files.append(atomic_write_bytes(out / "preview.png", preview_png(samples)))
    summary = {"assets": assets, "summary": asset_metrics(samples)}
    if getattr(samples, "failures", None):
        summary["failed_checks"] = dict(samples.failures)
    files.append(atomic_write_text(out / "assets.json", json.dumps(summary, indent=1)))
    return files


def export_point_files(paths: Sequence[str | Path], out_dir: str | Path,
                       formats: Sequence[str] = MESH_FORMATS, pitch_factor: float = 2.0,
                       k: int = 8) -> tuple[list[Path], dict[str, str]]:
    """Mesh and export point-cloud files one by one (``scripts/export_pointclouds.py``).

    A shape that cannot be read, has fewer than ``k`` points, or whose mesh fails the
    check (one watertight body enclosing a volume) is skipped and reported; the batch
    continues. Returns the files written and ``{input: reason}`` of the failures.
    """
    from types import SimpleNamespace

    from molediff.domains.pointclouds.data import read_points
    from molediff.domains.pointclouds.meshing import check_points, mesh_from_points
    from molediff.utils.errors import InputError

    formats = check_formats(formats)
    done, failed = [], {}
    for path in paths:
        try:
            pts = check_points(read_points(path), k=k)
            res = mesh_from_points(pts, pitch_factor=pitch_factor)
            if not res.ok:
                raise InputError(f"mesh fails the check (watertight={res.watertight}, "
                                 f"bodies={res.bodies}, volume={res.volume:.3g})")
        except InputError as exc:
            failed[str(path)] = str(exc)
            continue
        done.append(SimpleNamespace(points=pts.astype(np.float32), label=Path(path).stem,
                                    mesh=res, rounds=1))
    files = export_shapes(done, out_dir, formats=formats) if done else []
    return files, failed
