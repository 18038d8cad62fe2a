#!/usr/bin/env python
"""Rewrite checkpoints in the current format (registry names, weights hash), in place
or to a new path; the weights are not touched.

    python scripts/upgrade_checkpoint.py molediff/checkpoints/*.pt
    python scripts/upgrade_checkpoint.py old.ckpt -o new.ckpt
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from molediff.inference.checkpoint import META_KEY, load_checkpoint, write_checkpoint


def upgrade(src: Path, dst: Path) -> int:
    """Load (migrating) and write ``src`` to ``dst``; returns the format it had."""
    ckpt = load_checkpoint(src)
    old = int(ckpt[META_KEY].pop("migrated_from", ckpt[META_KEY]["format"]))
    write_checkpoint(ckpt, dst)
    return old


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("paths", nargs="+", type=Path)
    p.add_argument("-o", "--output", type=Path, default=None, help="(one input only)")
    args = p.parse_args(argv)
    if args.output is not None and len(args.paths) != 1:
        p.error("-o takes exactly one input")
    for src in args.paths:
        dst = args.output or src
        old = upgrade(src, dst)
        print(f"{src}: format {old} -> {dst}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
