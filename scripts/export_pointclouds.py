"""Mesh point-cloud files into watertight assets: the export of ``molediff pointclouds``.

    .venv/bin/python scripts/export_pointclouds.py clouds/*.ply -o assets/ --formats glb stl

Inputs: ``.ply`` (vertices), ``.npy`` ``[P, 3]`` arrays, ``.xyz`` / ``.txt`` / ``.csv``
rows of ``x y z``. Each is meshed with the same voxel pipeline and check as generated
shapes (:mod:`molediff.domains.pointclouds.meshing`); a file that cannot be read or meshed
is reported on stderr and skipped, the batch continues. Writes per shape
``shape_NNN_points.ply`` and ``shape_NNN.<fmt>``, plus ``preview.png`` and ``assets.json``
(``label`` is the input file's stem). Exit status 0 if any shape was exported, 1 if none.
"""

from __future__ import annotations

import argparse
import sys

from molediff.domains.pointclouds.export import MESH_FORMATS, export_point_files
from molediff.utils.entry import run_entry
from molediff.utils.errors import InputError
from molediff.utils.io import check_output_dir
from molediff.utils.publish import publish


def _main(argv: list[str]) -> int:
    ap = argparse.ArgumentParser(prog="export_pointclouds.py", description=__doc__.splitlines()[0])
    ap.add_argument("inputs", nargs="+", help="point-cloud files")
    ap.add_argument("-o", "--out", required=True, help="output directory")
    ap.add_argument("--formats", nargs="+", default=list(MESH_FORMATS), help="mesh formats")
    ap.add_argument("--pitch-factor", type=float, default=2.0,
                    help="voxel pitch in mean nearest-neighbour spacings (2)")
    args = ap.parse_args(argv)
    out = check_output_dir(args.out)
    failed: dict[str, str] = {}

    def write(tmp):
        files, bad = export_point_files(args.inputs, tmp, formats=args.formats,
                                        pitch_factor=args.pitch_factor)
        failed.update(bad)
        return files

    files = publish(out, write)
    for path, why in failed.items():
        print(f"export_pointclouds: skipped {path}: {why}", file=sys.stderr)
    if not files:
        raise InputError(f"no shape exported ({len(failed)} failed); nothing written")
    shapes = len(args.inputs) - len(failed)
    print(f"export_pointclouds: {shapes} of {len(args.inputs)} shapes exported, "
          f"{len(failed)} failed; wrote {out}: " + ", ".join(p.name for p in files),
          file=sys.stderr)
    return 0


def main(argv: list[str] | None = None) -> int:
    return run_entry(_main, argv, "export_pointclouds.py")


if __name__ == "__main__":
    sys.exit(main())
