"""Point-group symmetry of oligomers: cyclic C_n and dihedral D_n.

A design with symmetry ``G`` (``|G|`` = n for C_n, 2n for D_n) has ``|G|`` chains of
equal length; copy ``k`` is ``R_k`` applied to one asymmetric unit, with the symmetry
axis on z through the origin (D_n adds two-fold axes along x and its images).

:func:`symmetrize` is an orthogonal projection onto the symmetric structures: the
asymmetric unit is the mean of ``R_k^T x_k`` over the copies and every copy is rebuilt
from it. Applied after every sampler update (``ProteinSpace.project``) it keeps a design
symmetric by construction, exactly up to float rounding.
"""

from __future__ import annotations

import math
import re

import torch
from torch import Tensor

from molediff.utils.errors import UsageError

_SYM = re.compile(r"^([CcDd])(\d+)$")


def parse_symmetry(text: str | None) -> tuple[str, int] | None:
    """``'C3'`` -> ``('C', 3)``, ``'D2'`` -> ``('D', 2)``; ``None`` / ``''`` -> ``None``.
    Raises :class:`UsageError` on anything else (C_1 and D_1 are refused as no symmetry)."""
    if text is None or str(text).strip() == "" or str(text).lower() in ("none", "null"):
        return None
    m = _SYM.match(str(text).strip())
    if not m:
        raise UsageError(f"design.symmetry={text!r}: expected C<n> (cyclic) or D<n> "
                         "(dihedral), e.g. C3 or D2")
    kind, n = m.group(1).upper(), int(m.group(2))
    if n < 2 or n > 24:
        raise UsageError(f"design.symmetry={text!r}: the order n must be 2..24")
    return kind, n


def group_order(sym: tuple[str, int]) -> int:
    """Number of copies: n for C_n, 2n for D_n."""
    return sym[1] * (2 if sym[0] == "D" else 1)


def rotations(sym: tuple[str, int], dtype: torch.dtype = torch.float64) -> Tensor:
    """The ``|G|`` rotation matrices ``[|G|, 3, 3]`` of the group (z axis; D_n's two-folds
    along x rotated by multiples of π/n)."""
    kind, n = sym
    mats = []
    for k in range(n):
        a = 2 * math.pi * k / n
        mats.append([[math.cos(a), -math.sin(a), 0.0], [math.sin(a), math.cos(a), 0.0],
                     [0.0, 0.0, 1.0]])
    rz = torch.tensor(mats, dtype=dtype)
    if kind == "C":
        return rz
    flip = torch.diag(torch.tensor([1.0, -1.0, -1.0], dtype=dtype))  # 180° about x
    return torch.cat([rz, rz @ flip], 0)


class SymmetryLayout:
    """Where every node of a batch sits in its design's symmetry.

    Args:
        copy_rot: ``[N, 3, 3]`` rotation of each node's copy.
        unit_index: ``[N]`` index of the node's asymmetric-unit residue (global over the
            batch); nodes without symmetry are their own unit.
        unit_count: number of asymmetric-unit residues in the batch.
        copies: ``[U]`` copies per unit residue (1 without symmetry).
    """

    def __init__(self, copy_rot: Tensor, unit_index: Tensor, unit_count: int,
                 copies: Tensor) -> None:
        self.copy_rot = copy_rot
        self.unit_index = unit_index
        self.unit_count = int(unit_count)
        self.copies = copies

    def to(self, device: torch.device | str, dtype: torch.dtype) -> SymmetryLayout:
        return SymmetryLayout(self.copy_rot.to(device, dtype), self.unit_index.to(device),
                              self.unit_count, self.copies.to(device, dtype))


def symmetrize(x: Tensor, layout: SymmetryLayout, channels: int) -> Tensor:
    """Project node coordinates ``x [N, 3·channels (+F)]`` onto the symmetric structures
    (feature columns untouched): ``a = mean_k R_k^T x_k``, ``x_k = R_k a``."""
    n = x.shape[0]
    v = x[:, : 3 * channels].reshape(n, channels, 3)
    rot = layout.copy_rot.to(x.dtype)
    local = torch.einsum("nji,ncj->nci", rot, v)  # R^T x
    unit = torch.zeros(layout.unit_count, channels, 3, dtype=x.dtype, device=x.device)
    unit.index_add_(0, layout.unit_index, local)
    unit = unit / layout.copies.to(x.dtype)[:, None, None]
    out = torch.einsum("nij,ncj->nci", rot, unit[layout.unit_index]).reshape(n, 3 * channels)
    if x.shape[1] == 3 * channels:
        return out
    return torch.cat([out, x[:, 3 * channels :]], 1)


def symmetrize_design(bb: object, sym: tuple[str, int]) -> object:
    """The symmetric design nearest to ``bb [L, 4, 3]`` (copies = chains in order; numpy
    float64), e.g. after a refinement that treated the copies independently."""
    import numpy as np

    arr = np.asarray(bb, dtype=np.float64)
    g = group_order(sym)
    m = len(arr) // g
    rots = rotations(sym).numpy()
    copies = arr.reshape(g, m * 4, 3)
    unit = np.mean([copies[k] @ rots[k] for k in range(g)], axis=0)  # R_k^T x_k (row vectors)
    return np.concatenate([unit @ rots[k].T for k in range(g)]).reshape(arr.shape)


def symmetry_rmsd(bb: Tensor | object, sym: tuple[str, int]) -> float:
    """Largest RMSD (Å) between copy 0 mapped by ``R_k`` and copy ``k`` of a design
    ``[L, 4, 3]`` whose chains are the copies in order (0 for an exact design)."""
    import numpy as np

    arr = np.asarray(bb, dtype=np.float64)
    g = group_order(sym)
    if len(arr) % g:
        raise ValueError(f"{len(arr)} residues do not split into {g} copies")
    m = len(arr) // g
    rots = rotations(sym).numpy()
    base = arr[:m].reshape(-1, 3)
    worst = 0.0
    for k in range(1, g):
        other = arr[k * m : (k + 1) * m].reshape(-1, 3)
        worst = max(worst, float(np.sqrt(((base @ rots[k].T - other) ** 2).sum(-1).mean())))
    return worst


__all__ = ["parse_symmetry", "group_order", "rotations", "SymmetryLayout", "symmetrize",
           "symmetrize_design", "symmetry_rmsd"]
