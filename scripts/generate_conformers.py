#!/usr/bin/env python
"""Conformers for a file of molecules, batched across molecules, one SDF out.

    python scripts/generate_conformers.py molecules.smi -n 10 -o conformers.sdf
    python scripts/generate_conformers.py table.csv --smiles-column smiles -n 5 --relax -o out.sdf
    python scripts/generate_conformers.py ligands.sdf -n 20 --prune-rms 0.5 -o out.sdf

Same code path as ``molediff conformers`` (:mod:`molediff.cli.conformers`), with a tqdm
progress bar. Each SDF record carries ``source_smiles``, ``index``, ``stereo``
(sampled / mirrored), ``energy`` (kcal/mol, with ``--relax``) and the molecule's stereo
counters. Failed molecules are reported one per line on stderr and skipped; the exit
status is non-zero only when nothing succeeded.
"""

from __future__ import annotations

import argparse
import sys

from molediff.cli.conformers import InputError, add_generation_args, read_inputs, run_generation


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("input", help=".smi / .csv / .sdf file of molecules")
    p.add_argument("--smiles-column", default=None, help="CSV column holding SMILES")
    add_generation_args(p)
    args = p.parse_args(argv)
    try:
        inputs = read_inputs(args.input, args.smiles_column)
    except InputError as exc:
        print(f"generate_conformers: error: {exc}", file=sys.stderr)
        return 1
    return run_generation(inputs, args, progress_bar=True)


if __name__ == "__main__":
    sys.exit(main())
