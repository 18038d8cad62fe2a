"""Conformer generation domain: molecular graph in, 3D conformers (Å) out."""

from molediff.domains.conformers.domain import ConformerDomain
from molediff.domains.conformers.generate import ConformerGenerator, ConformerResult

__all__ = ["ConformerDomain", "ConformerGenerator", "ConformerResult"]
