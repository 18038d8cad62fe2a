"""Build data/shapes/shapes.npz: surface point clouds of real meshes that ship in packages.

    pip download --no-deps --no-binary :all: pybullet==3.2.7 -d /tmp/pb       # 80 MB sdist
    apt-get download assimp-testmodels && dpkg-deb -x assimp-testmodels_*.deb /tmp/assimp
    pip download --no-deps pymeshlab -d /tmp/pml                                # wheel
    .venv/bin/python scripts/build_shape_data.py --pybullet /tmp/pb/pybullet-3.2.7.tar.gz \
        --assimp /tmp/assimp/usr/share/assimp/models --pymeshlab /tmp/pml/pymeshlab-*.whl

None of these packages is installed or needed at run time: the meshes are data files read
straight out of the archives (``pybullet_data`` in the sdist, the test models of Debian's
``assimp-testmodels``, ``pymeshlab/tests/sample_meshes`` in the wheel). Each mesh is loaded
with trimesh (``molediff.domains.pointclouds.data``), ``--points`` surface points and their
normals are sampled by area, the points are normalised to the unit sphere (centroid at
the origin, max radius 1), and the shape gets a coarse class from where its source puts it:

- ``random``: pybullet's procedurally generated ``random_urdfs/*/*.obj`` objects;
- ``robot_part``: meshes of pybullet's robots (laikago, a1, aliengo, franka_panda,
  kuka_iiwa, xarm, mini_cheetah, racecar, quadruped, ...);
- ``object``: pybullet's other named objects (duck, teddy, mug, table, tray, lego, ...);
- ``model``: assimp test models and pymeshlab sample meshes.

Skipped (counted): flat scenery (planes, terrain, cloth, stadium, monastery), convex
decompositions and low-resolution/collision duplicates (``vhacd``, ``_col``, ``lores``),
meshes trimesh cannot read or that are empty / degenerate, and exact duplicates (same
point cloud). The split (80/10/10) is a hash of the shape name, so it is stable.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import tarfile
import tempfile
import zipfile
from pathlib import Path

import numpy as np

from molediff.domains.pointclouds.data import (
    DEFAULT_SHAPES,
    MESH_SUFFIXES,
    load_mesh,
    normalise,
    sample_surface,
    split_part,
)
from molediff.utils.errors import InputError

CLASSES = ("random", "object", "robot_part", "model")
ROBOT_DIRS = {"laikago", "a1", "aliengo", "franka_panda", "kuka_iiwa", "xarm", "mini_cheetah",
              "racecar", "quadruped", "gripper", "husky", "humanoid", "biped", "bicycle",
              "differential", "pendulum", "kuka_lwr", "r2d2", "wsg50"}
SKIP = re.compile(r"(plane|terrain|cloth|stadium|part[0-9]|monastry|heightmap|vhacd|_col\b|"
                  r"_col\.|lores|checker)", re.I)


def extract(archive: Path, pattern: str, into: Path) -> Path:
    """Unpack the members of ``archive`` (tar.gz sdist or wheel) whose path contains
    ``pattern`` into ``into``; return ``into``."""
    if archive.is_dir():
        return archive
    if archive.suffix == ".whl" or archive.suffix == ".zip":
        with zipfile.ZipFile(archive) as z:
            z.extractall(into, [m for m in z.namelist() if pattern in m])
    else:
        with tarfile.open(archive) as t:
            t.extractall(into, [m for m in t.getmembers() if pattern in m.name], filter="data")
    return into


def pybullet_items(root: Path) -> list[tuple[Path, str, str]]:
    base = next(root.rglob("pybullet_data"))
    out = []
    for f in sorted(base.rglob("*.obj")):
        rel = f.relative_to(base)
        if SKIP.search(str(rel)):
            continue
        top = rel.parts[0] if len(rel.parts) > 1 else ""
        cls = "random" if top == "random_urdfs" else ("robot_part" if top in ROBOT_DIRS
                                                       else "object")
        out.append((f, f"pybullet/{rel}", cls))
    return out


def model_items(root: Path, prefix: str) -> list[tuple[Path, str, str]]:
    return [(f, f"{prefix}/{f.relative_to(root)}", "model") for f in sorted(root.rglob("*"))
            if f.suffix.lower() in MESH_SUFFIXES and not SKIP.search(f.name)]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--pybullet", type=Path, required=True,
                    help="pybullet sdist (.tar.gz) or an unpacked pybullet_data directory")
    ap.add_argument("--assimp", type=Path, default=None,
                    help="assimp-testmodels models directory (usr/share/assimp/models)")
    ap.add_argument("--pymeshlab", type=Path, default=None, help="pymeshlab wheel")
    ap.add_argument("--points", type=int, default=2048, help="surface points per shape (2048)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", type=Path, default=DEFAULT_SHAPES)
    args = ap.parse_args(argv)

    import trimesh

    trimesh.util.log.setLevel("ERROR")
    with tempfile.TemporaryDirectory() as tmp:
        items = pybullet_items(extract(args.pybullet, "pybullet_data/", Path(tmp) / "pb"))
        if args.assimp is not None:
            items += model_items(args.assimp, "assimp")
        if args.pymeshlab is not None:
            wheel = extract(args.pymeshlab, "sample_meshes/", Path(tmp) / "pml")
            items += model_items(next(wheel.rglob("sample_meshes")), "pymeshlab")
        pts, nrm, labels, names, failed = [], [], [], [], {}
        seen: set[bytes] = set()
        duplicates = 0
        for k, (f, name, cls) in enumerate(items):
            try:
                mesh = load_mesh(f)
                p, n = sample_surface(mesh, args.points, args.seed)
                p, _, _ = normalise(p)
            except InputError as exc:
                failed[name] = str(exc).split(": ", 1)[-1]
                continue
            key = np.round(np.sort(np.linalg.norm(p, axis=1)), 3).tobytes()
            if key in seen:  # the same mesh under another name
                duplicates += 1
                continue
            seen.add(key)
            pts.append(p.astype(np.float16))
            nrm.append(np.round(np.nan_to_num(n) * 127).astype(np.int8))
            labels.append(CLASSES.index(cls))
            names.append(name)
            if k % 100 == 0:
                print(f"{k}/{len(items)} {name}", file=sys.stderr)
    part = np.array([split_part(s) for s in names], np.int8)
    labels_a = np.array(labels, np.int8)
    meta = {"source": "pybullet 3.2.7 sdist pybullet_data; Debian assimp-testmodels; "
                      "pymeshlab wheel sample_meshes",
            "normalisation": "unit sphere: centroid of the sampled points at 0, max radius 1",
            "points": args.points, "seed": args.seed, "candidates": len(items),
            "failed": len(failed), "duplicates": duplicates,
            "per_class": {c: int((labels_a == i).sum()) for i, c in enumerate(CLASSES)},
            "per_part": {s: int((part == i).sum()) for i, s in enumerate(("train", "valid",
                                                                          "test"))}}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(args.out, points=np.stack(pts), normals=np.stack(nrm), labels=labels_a,
                        names=np.array(names), classes=np.array(CLASSES), part=part,
                        meta=np.array(json.dumps(meta)))
    print(json.dumps(meta, indent=1))
    for name, why in sorted(failed.items()):
        print(f"skipped {name}: {why}", file=sys.stderr)
    print(f"wrote {args.out} ({args.out.stat().st_size / 1e6:.1f} MB, {len(names)} shapes)",
          file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
