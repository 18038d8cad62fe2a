"""Conformer generation domain: molecular graph in, 3D conformers (Å) out.

The package imports its modules lazily, so ``molediff conformers`` can check its options
and output path before torch, PyG and RDKit load.
"""

from __future__ import annotations

from molediff.utils.lazy import lazy_exports

_EXPORTS = {
    "ConformerDomain": "molediff.domains.conformers.domain",
    "ConformerResult": "molediff.domains.conformers.generate",
    "generate_conformers": "molediff.domains.conformers.generate",
}

__all__ = list(_EXPORTS)


__getattr__ = lazy_exports(__name__, _EXPORTS)
