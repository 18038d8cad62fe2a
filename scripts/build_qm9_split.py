"""Build data/qm9_split/split.npz: the fixed train/valid/test split of QM9 by molecule.

    .venv/bin/python scripts/build_qm9_split.py [--seed 20240601] [--out data/qm9_split/split.npz]

Reads the raw QM9 table shipped by the PyPI package ``qm9pack`` (no RDKit processing),
groups molecules by standard InChI and splits the groups at random with a fixed seed.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from molediff.domains.chem.qm9 import qm9pack_version, read_qm9_table
from molediff.domains.chem.split import (
    DEFAULT_SEED,
    DEFAULT_SIZES,
    default_split_path,
    make_split,
    save_split,
)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seed", type=int, default=DEFAULT_SEED)
    ap.add_argument("--valid", type=int, default=DEFAULT_SIZES["valid"])
    ap.add_argument("--test", type=int, default=DEFAULT_SIZES["test"])
    ap.add_argument("--out", type=Path, default=default_split_path())
    args = ap.parse_args()

    df = read_qm9_table()
    split = make_split(
        df["Index"].to_numpy(), df["InChi"], {"valid": args.valid, "test": args.test}, args.seed
    )
    save_split(
        split, args.out, seed=args.seed, source=f"qm9pack=={qm9pack_version()}",
        group_by="standard InChI",
    )
    sizes = {k: len(v) for k, v in split.items()}
    print(f"wrote {args.out} ({args.out.stat().st_size} bytes): {sizes}")


if __name__ == "__main__":
    main()
