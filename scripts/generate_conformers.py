#!/usr/bin/env python
"""Conformers for a file of molecules, batched across molecules, one SDF out.

    python scripts/generate_conformers.py molecules.smi -n 10 -o conformers.sdf
    python scripts/generate_conformers.py table.csv --smiles-column smiles -n 5 --relax -o out.sdf
    python scripts/generate_conformers.py ligands.sdf -n 20 --prune-rms 0.5 -o out.sdf

Same code path as ``molediff conformers -i FILE`` (:mod:`molediff.domains.conformers.command`),
with a progress bar. Each SDF record carries ``source_smiles``, ``index``, ``stereo``
(sampled / mirrored), ``energy`` (kcal/mol, with ``--relax``) and the molecule's stereo
counters. Failed molecules are reported one per line on stderr and skipped; the exit
status is non-zero only when nothing succeeded.
"""

from __future__ import annotations

import sys

from molediff.domains.conformers.command import main as conformers_main


def main(argv: list[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if args and not args[0].startswith("-"):
        args = ["-i", args[0], *args[1:]]  # the file is this script's positional argument
    return conformers_main(args)


if __name__ == "__main__":
    sys.exit(main())
