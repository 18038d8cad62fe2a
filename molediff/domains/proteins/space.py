"""The backbone space: four centred vector channels per residue, optionally with pinned
motif residues or point-group symmetry.

``x [N, 12]`` holds N, CA, C, O (Å) of every residue; :class:`ProteinSpace` is a
:class:`~molediff.core.space.GraphSpace` with ``coord_dims = 12`` whose :meth:`project`
also

- centres every design on its CA centroid (one shift for all four channels);
- pins motif residues to their known coordinates (replacement inpainting, as
  ``molediff.core.guidance.inpaint`` does for estimates; the core's samplers project every
  estimate and every update, so a motif is exact in the result), with the centre measured
  on the motif so that pinning never moves it;
- symmetrises oligomers (:func:`~molediff.domains.proteins.symmetry.symmetrize`), so C_n /
  D_n designs are symmetric by construction. Noise is symmetrised too and scaled by
  ``sqrt(|G|)`` so every residue sees the per-atom noise level the network was trained on.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

from molediff.core.space import GraphSpace
from molediff.domains.proteins.symmetry import SymmetryLayout, symmetrize

#: backbone atoms per residue, in column order
ATOMS = ("N", "CA", "C", "O")
CHANNELS = len(ATOMS)
COORD_DIMS = 3 * CHANNELS
#: the channel whose centroid defines a design's centre
CA_CHANNEL = 1


class ProteinSpace(GraphSpace):
    """:class:`GraphSpace` over backbones with optional motif pins and symmetry.

    Args:
        batch, num_graphs, sample_seeds: as :class:`GraphSpace`.
        fixed_mask: ``BoolTensor[N]`` motif residues (no noise, pinned to ``known``).
        known: ``[N, 12]`` coordinates of the motif residues (other rows ignored), centred
            on the motif of each design.
        symmetry: node layout of symmetric designs (``None``: no symmetry).
        group_size: ``|G|`` of the symmetric designs (noise scale ``sqrt(|G|)``).
    """

    def __init__(self, batch: Tensor, num_graphs: int, *, fixed_mask: Tensor | None = None,
                 known: Tensor | None = None, symmetry: SymmetryLayout | None = None,
                 group_size: int = 1, sample_seeds=None) -> None:
        super().__init__(batch, num_graphs, coord_dims=COORD_DIMS, fixed_mask=fixed_mask,
                         sample_seeds=sample_seeds)
        if self.fixed_mask is not None and known is None:
            raise ValueError("fixed motif residues need their known coordinates")
        self.known = known
        self.symmetry = symmetry
        self.group_size = int(group_size)

    def centre(self, x: Tensor) -> Tensor:
        """The CA centroid (of the reference residues), repeated for all four channels
        ``[B, 12]``: one translation per design, so centring never changes the geometry
        (``GraphSpace`` would centre each channel on its own, shifting N, C and O against
        CA by their centroids' offsets, a few tenths of an Å)."""
        ca = super().centre(x)[:, 3 * CA_CHANNEL : 3 * CA_CHANNEL + 3]
        return ca.repeat(1, CHANNELS)

    def centred(self, x: Tensor) -> Tensor:
        """``x`` shifted onto the space's centre (CA centroid of the reference residues),
        without pinning: how known motif coordinates are prepared."""
        return GraphSpace.project(self, x)

    def _pinned(self, x: Tensor) -> Tensor:
        if self.fixed_mask is None or self.known is None:
            return x
        return torch.where(self.fixed_mask[:, None], self.known.to(x.dtype), x)

    def project(self, x: Tensor) -> Tensor:
        x = self._pinned(super().project(self._pinned(x)))
        if self.symmetry is not None:
            x = symmetrize(x, self.symmetry, CHANNELS)
        return x

    def randn_like(self, x: Tensor, generator: torch.Generator | None = None) -> Tensor:
        eps = self.raw_randn(x, generator)
        if self.fixed_mask is not None:
            eps = eps * (~self.fixed_mask)[:, None].to(x.dtype)
        eps = GraphSpace.project(self, eps)  # CA-centred (``centre`` above), motif unpinned
        if self.symmetry is not None:
            eps = symmetrize(eps, self.symmetry, CHANNELS) * math.sqrt(self.group_size)
        return eps


__all__ = ["ProteinSpace", "ATOMS", "CHANNELS", "COORD_DIMS", "CA_CHANNEL"]
