"""Where the Hydra config groups live."""

from __future__ import annotations

import os
from pathlib import Path

#: the repository's ``conf/`` (override with MOLEDIFF_CONFIG_DIR, or add a directory with
#: Hydra's ``--config-dir`` / ``hydra.searchpath``)
CONFIG_DIR = os.environ.get(
    "MOLEDIFF_CONFIG_DIR", str(Path(__file__).resolve().parents[2] / "conf")
)
