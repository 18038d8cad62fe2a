"""Conformer generation domain: molecular graph in, 3D conformers (Å) out."""

from molediff.domains.conformers.domain import ConformerDomain
from molediff.domains.conformers.generate import ConformerResult, generate_conformers

__all__ = ["ConformerDomain", "ConformerResult", "generate_conformers"]
