"""Conformer generation domain: molecular graph in, 3D conformers (Å) out.

The package imports its modules lazily, so ``molediff conformers`` can check its options
and output path before torch, PyG and RDKit load.
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "ConformerDomain": "molediff.domains.conformers.domain",
    "ConformerResult": "molediff.domains.conformers.generate",
    "generate_conformers": "molediff.domains.conformers.generate",
}

__all__ = list(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        return getattr(importlib.import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
