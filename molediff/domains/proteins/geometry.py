"""Backbone geometry: the measurements behind the metrics and the geometry check.

A backbone is a float array ``[L, 4, 3]`` of N, CA, C, O positions in Å (residue order
along the chain). Definitions follow FrameFlow's and Proteina's evaluation code:

- CA–CA deviation: ``| |CA_i - CA_{i+1}| - 3.80 Å |`` over consecutive residues of a chain;
  "within tolerance" means a deviation below ``CA_CA_TOLERANCE`` (0.1 Å, FrameFlow's
  ``ca_ca_valid_percent``).
- CA clashes: pairs of CA atoms closer than 3.0 Å that are not sequence neighbours
  (``|i - j| > 1`` or on different chains), FrameFlow's ``num_ca_ca_clashes``.
- Bond lengths N–CA, CA–C, C–N (peptide bond, consecutive residues) and angles N–CA–C,
  CA–C–N, C–N–CA against Engh & Huber ideal values.
- φ/ψ dihedrals and the share in the allowed Ramachandran regions.
- Radius of gyration over CA atoms, and its scaling exponent ν in ``Rg = R0 · L^ν``.
"""

from __future__ import annotations

import numpy as np

#: ideal CA–CA distance of a trans peptide, Å
CA_CA_IDEAL = 3.80
#: FrameFlow's tolerance for a valid consecutive CA–CA distance, Å
CA_CA_TOLERANCE = 0.1
#: CA–CA distance below which two non-adjacent residues clash, Å (FrameFlow)
CA_CLASH_DISTANCE = 3.0
#: Engh & Huber (1991) ideal backbone bond lengths, Å
IDEAL_BONDS = {"N-CA": 1.458, "CA-C": 1.525, "C-N": 1.329, "C-O": 1.231}
#: Engh & Huber ideal backbone angles, degrees
IDEAL_ANGLES = {"N-CA-C": 111.2, "CA-C-N": 116.2, "C-N-CA": 121.7}

# column of each backbone atom in a residue's [4, 3] block
N, CA, C, O = 0, 1, 2, 3  # noqa: E741 - the atom names


def _norm(v: np.ndarray) -> np.ndarray:
    return np.linalg.norm(v, axis=-1)


def _angle(a: np.ndarray, b: np.ndarray, c: np.ndarray) -> np.ndarray:
    """Angle a-b-c in degrees, element-wise over leading dimensions."""
    u, v = a - b, c - b
    cos = (u * v).sum(-1) / np.maximum(_norm(u) * _norm(v), 1e-12)
    return np.degrees(np.arccos(np.clip(cos, -1.0, 1.0)))


def dihedral(p0: np.ndarray, p1: np.ndarray, p2: np.ndarray, p3: np.ndarray) -> np.ndarray:
    """Dihedral angle p0-p1-p2-p3 in degrees (-180, 180], IUPAC sign convention."""
    b0, b1, b2 = p0 - p1, p2 - p1, p3 - p2
    b1n = b1 / np.maximum(_norm(b1), 1e-12)[..., None]
    v = b0 - (b0 * b1n).sum(-1, keepdims=True) * b1n
    w = b2 - (b2 * b1n).sum(-1, keepdims=True) * b1n
    x = (v * w).sum(-1)
    y = (np.cross(b1n, v) * w).sum(-1)
    return np.degrees(np.arctan2(y, x))


def same_chain_next(chain: np.ndarray | None, length: int) -> np.ndarray:
    """``bool [L-1]``: residue ``i`` and ``i+1`` are consecutive in one chain."""
    if chain is None:
        return np.ones(max(length - 1, 0), dtype=bool)
    chain = np.asarray(chain)
    return chain[1:] == chain[:-1]


def ca_ca_distances(bb: np.ndarray, chain: np.ndarray | None = None) -> np.ndarray:
    """Consecutive CA–CA distances within chains, Å."""
    d = _norm(bb[1:, CA] - bb[:-1, CA])
    return d[same_chain_next(chain, len(bb))]


def ca_clashes(bb: np.ndarray, chain: np.ndarray | None = None,
               threshold: float = CA_CLASH_DISTANCE) -> int:
    """Number of CA pairs closer than ``threshold`` Å that are not sequence neighbours."""
    ca = bb[:, CA]
    n = len(ca)
    if n < 2:
        return 0
    d = _norm(ca[:, None] - ca[None])
    i, j = np.triu_indices(n, 1)
    ch = np.zeros(n, dtype=int) if chain is None else np.asarray(chain)
    adjacent = (j - i == 1) & (ch[i] == ch[j])
    return int(((d[i, j] < threshold) & ~adjacent).sum())


def bond_lengths(bb: np.ndarray, chain: np.ndarray | None = None) -> dict[str, np.ndarray]:
    """N–CA, CA–C, C–O per residue and the peptide C–N between consecutive residues, Å."""
    nxt = same_chain_next(chain, len(bb))
    return {
        "N-CA": _norm(bb[:, CA] - bb[:, N]),
        "CA-C": _norm(bb[:, C] - bb[:, CA]),
        "C-O": _norm(bb[:, O] - bb[:, C]),
        "C-N": _norm(bb[1:, N] - bb[:-1, C])[nxt],
    }


def bond_angles(bb: np.ndarray, chain: np.ndarray | None = None) -> dict[str, np.ndarray]:
    """N–CA–C per residue, CA–C–N and C–N–CA across peptide bonds, degrees."""
    nxt = same_chain_next(chain, len(bb))
    return {
        "N-CA-C": _angle(bb[:, N], bb[:, CA], bb[:, C]),
        "CA-C-N": _angle(bb[:-1, CA], bb[:-1, C], bb[1:, N])[nxt],
        "C-N-CA": _angle(bb[:-1, C], bb[1:, N], bb[1:, CA])[nxt],
    }


def phi_psi(bb: np.ndarray, chain: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """φ (C_{i-1}-N-CA-C) and ψ (N-CA-C-N_{i+1}) of residues that have both neighbours in
    their chain, degrees."""
    if len(bb) < 3:
        return np.zeros(0), np.zeros(0)
    nxt = same_chain_next(chain, len(bb))
    inner = nxt[:-1] & nxt[1:]  # residue i (1..L-2) has i-1 and i+1 in its chain
    phi = dihedral(bb[:-2, C], bb[1:-1, N], bb[1:-1, CA], bb[1:-1, C])
    psi = dihedral(bb[1:-1, N], bb[1:-1, CA], bb[1:-1, C], bb[2:, N])
    return phi[inner], psi[inner]


def ramachandran_allowed(phi: np.ndarray, psi: np.ndarray) -> np.ndarray:
    """``bool``: (φ, ψ) in a broad allowed region of the general-case Ramachandran plot.

    The regions are the union of boxes enclosing the "allowed" contours of Lovell et al.
    (2003) for non-Gly, non-Pro residues: β/PPII (φ in [-180, -45], ψ in [90, 180] ∪
    [-180, -150]), right-handed α and bridge (φ in [-160, -20], ψ in [-120, 60]) and the
    left-handed α (φ in [30, 100], ψ in [-20, 80]). A poly-glycine backbone is scored
    against the stricter non-Gly map on purpose: designs are meant to take any sequence.
    """
    beta = (phi >= -180) & (phi <= -45) & ((psi >= 90) | (psi <= -150))
    alpha = (phi >= -160) & (phi <= -20) & (psi >= -120) & (psi <= 60)
    left = (phi >= 30) & (phi <= 100) & (psi >= -20) & (psi <= 80)
    return beta | alpha | left


def radius_of_gyration(bb: np.ndarray) -> float:
    """Radius of gyration of the CA atoms, Å."""
    ca = bb[:, CA]
    return float(np.sqrt(((ca - ca.mean(0)) ** 2).sum(-1).mean()))


def scaling_exponent(lengths: np.ndarray, rg: np.ndarray) -> tuple[float, float]:
    """Least-squares fit of ``log Rg = log R0 + ν log L``; returns ``(ν, R0 in Å)``.
    Compact globular proteins give ν ≈ 0.38 (~1/3 for ideal spheres), random coils ~0.59."""
    lengths, rg = np.asarray(lengths, float), np.asarray(rg, float)
    if len(np.unique(lengths)) < 2:
        return float("nan"), float("nan")
    nu, log_r0 = np.polyfit(np.log(lengths), np.log(rg), 1)
    return float(nu), float(np.exp(log_r0))


def kabsch_rmsd(a: np.ndarray, b: np.ndarray) -> float:
    """RMSD after optimal superposition (rotation + translation) of ``a`` onto ``b``
    (``[n, 3]`` each, Å); reflections are not allowed."""
    a = a - a.mean(0)
    b = b - b.mean(0)
    h = a.T @ b
    u, _, vt = np.linalg.svd(h)
    d = np.sign(np.linalg.det(vt.T @ u.T))
    r = vt.T @ np.diag([1.0, 1.0, d]) @ u.T
    return float(np.sqrt((((a @ r.T) - b) ** 2).sum(-1).mean()))


def secondary_structure(bb: np.ndarray) -> np.ndarray:
    """DSSP three-state assignment (``'H'`` helix, ``'E'`` strand, ``'-'`` coil) per residue
    from the N, CA, C, O coordinates, by ``pydssp`` (a DSSP re-implementation from the
    backbone hydrogen-bond energy, as in Proteina's evaluation)."""
    import pydssp

    if len(bb) < 3:
        return np.array(["-"] * len(bb))
    return np.asarray(pydssp.assign(np.asarray(bb, dtype=np.float32), out_type="c3"))


__all__ = [
    "CA_CA_IDEAL", "CA_CA_TOLERANCE", "CA_CLASH_DISTANCE", "IDEAL_BONDS", "IDEAL_ANGLES",
    "ca_ca_distances", "ca_clashes", "bond_lengths", "bond_angles", "phi_psi", "dihedral",
    "ramachandran_allowed", "radius_of_gyration", "scaling_exponent", "kabsch_rmsd",
    "secondary_structure", "same_chain_next",
]
