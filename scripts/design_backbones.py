#!/usr/bin/env python
"""Protein backbone design runs from a script: the same code path as ``molediff design``.

    python scripts/design_backbones.py design.length=80-120 design.num_designs=100 output_dir=runs/free
    python scripts/design_backbones.py design.contig='10-20/A15-30/30-40' design.input=motif.pdb
    python scripts/design_backbones.py design.symmetry=C3 design.length=270 design.num_designs=4
    python scripts/design_backbones.py design.input=my.pdb design.partial_sigma=2 design.num_designs=8

Arguments are ``key=value`` overrides of ``conf/design.yaml`` (see
:mod:`molediff.domains.proteins.command`). Writes ``design_XXXX.pdb``, ``designs.csv`` and
``metrics.png`` into ``output_dir``; every setting is checked before the model is loaded.
"""

from __future__ import annotations

import sys

from molediff.domains.proteins.command import main

if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
