#!/usr/bin/env python
"""Tabulate a Hydra multirun directory (CSV + markdown + PNG); see molediff.cli.collect_sweep.

    python scripts/collect_sweep.py outputs/train/multiruns/<date_time>
    python scripts/collect_sweep.py outputs/evaluate/multiruns/<date_time> --x steps
"""

import sys

from molediff.cli.collect_sweep import main

if __name__ == "__main__":
    sys.exit(main())
