"""Per-design and set-level backbone metrics (FrameFlow / Proteina definitions).

Per design (:func:`design_metrics`): length, mean CA–CA deviation from 3.80 Å and the share
within 0.1 Å, CA clashes (< 3.0 Å, non-adjacent), mean absolute deviation of the backbone
bonds and angles from Engh & Huber, share of φ/ψ in allowed Ramachandran regions, radius
of gyration, DSSP helix / strand / coil fractions (pydssp), and where they apply motif
RMSD, symmetry RMSD and TM-score / CA RMSD to the partial-diffusion input.

Set level (:func:`summary_metrics`): means of the above, the share of designs without CA
clashes, the Rg scaling exponent ν (``Rg ∝ L^ν``) and, when the optional ``tmtools`` is
installed (GPL; ``pip install molediff[proteins-tm]``), diversity as the mean pairwise
TM-score (:func:`pairwise_tm`) and novelty as the largest TM-score to training chains
(:func:`novelty`).
"""

from __future__ import annotations

import importlib.util
from collections.abc import Sequence

import numpy as np

from molediff.domains.proteins.geometry import (
    CA,
    CA_CA_IDEAL,
    CA_CA_TOLERANCE,
    IDEAL_ANGLES,
    IDEAL_BONDS,
    bond_angles,
    bond_lengths,
    ca_ca_distances,
    ca_clashes,
    kabsch_rmsd,
    phi_psi,
    radius_of_gyration,
    ramachandran_allowed,
    scaling_exponent,
    secondary_structure,
)


def has_tmtools() -> bool:
    """Is the optional TM-score package installed?"""
    return importlib.util.find_spec("tmtools") is not None


def tm_score(a: np.ndarray, b: np.ndarray) -> float:
    """TM-score of CA traces ``a [La, 3]`` and ``b [Lb, 3]`` (TM-align, normalised by the
    length of ``b``; poly-glycine sequences)."""
    from tmtools import tm_align

    res = tm_align(np.ascontiguousarray(a, dtype=np.float64),
                   np.ascontiguousarray(b, dtype=np.float64), "G" * len(a), "G" * len(b))
    return float(res.tm_norm_chain2)


def design_metrics(bb: np.ndarray, chain: np.ndarray | None = None, *,
                   motif: np.ndarray | None = None, known: np.ndarray | None = None,
                   symmetry: tuple[str, int] | None = None,
                   reference: np.ndarray | None = None) -> dict[str, float]:
    """Metrics of one backbone ``bb [L, 4, 3]`` (Å); ``motif`` / ``known`` give motif
    residues and their input coordinates, ``reference`` the partial-diffusion input."""
    out: dict[str, float] = {"length": float(len(bb))}
    d = ca_ca_distances(bb, chain)
    dev = np.abs(d - CA_CA_IDEAL)
    out["ca_ca_deviation"] = float(dev.mean()) if d.size else 0.0
    out["ca_ca_valid"] = float((dev < CA_CA_TOLERANCE).mean()) if d.size else 1.0
    out["ca_clashes"] = float(ca_clashes(bb, chain))
    bonds = bond_lengths(bb, chain)
    out["bond_deviation"] = float(np.mean(np.concatenate(
        [np.abs(v - IDEAL_BONDS[k]) for k, v in bonds.items() if v.size])))
    angles = bond_angles(bb, chain)
    parts = [np.abs(v - IDEAL_ANGLES[k]) for k, v in angles.items() if v.size]
    out["angle_deviation"] = float(np.mean(np.concatenate(parts))) if parts else 0.0
    phi, psi = phi_psi(bb, chain)
    out["ramachandran_allowed"] = float(ramachandran_allowed(phi, psi).mean()) if phi.size else 1.0
    out["radius_of_gyration"] = radius_of_gyration(bb)
    ss = _secondary_structure_by_chain(bb, chain)
    out["helix"] = float((ss == "H").mean())
    out["strand"] = float((ss == "E").mean())
    out["coil"] = float((ss == "-").mean())
    if motif is not None and known is not None and motif.any():
        out["motif_rmsd"] = kabsch_rmsd(bb[motif].reshape(-1, 3), known[motif].reshape(-1, 3))
    if symmetry is not None:
        from molediff.domains.proteins.symmetry import symmetry_rmsd

        out["symmetry_rmsd"] = symmetry_rmsd(bb, symmetry)
    if reference is not None:
        out["ca_rmsd_to_input"] = kabsch_rmsd(bb[:, CA], reference[:, CA])
        if has_tmtools():
            out["tm_to_input"] = tm_score(bb[:, CA], reference[:, CA])
    return out


def _secondary_structure_by_chain(bb: np.ndarray, chain: np.ndarray | None) -> np.ndarray:
    if chain is None:
        return secondary_structure(bb)
    chain = np.asarray(chain)
    return np.concatenate([secondary_structure(bb[chain == c]) for c in np.unique(chain)])


def pairwise_tm(cas: Sequence[np.ndarray], max_pairs: int = 2000, seed: int = 0) -> float:
    """Mean TM-score over pairs of designs (CA traces), at most ``max_pairs`` random pairs;
    lower is more diverse. Needs ``tmtools``."""
    n = len(cas)
    pairs = [(i, j) for i in range(n) for j in range(i + 1, n)]
    if not pairs:
        return float("nan")
    if len(pairs) > max_pairs:
        rng = np.random.default_rng(seed)
        pairs = [pairs[k] for k in rng.choice(len(pairs), max_pairs, replace=False)]
    return float(np.mean([tm_score(cas[i], cas[j]) for i, j in pairs]))


def novelty(cas: Sequence[np.ndarray], references: Sequence[np.ndarray]) -> float:
    """Mean over designs of the largest TM-score to any reference chain (lower: more novel).
    Needs ``tmtools``; cost grows with designs × references."""
    return float(np.mean([max(tm_score(c, r) for r in references) for c in cas]))


def summary_metrics(per_design: Sequence[dict[str, float]]) -> dict[str, float]:
    """Means of the per-design metrics (``mean_<name>``), the share of designs without CA
    clashes and the Rg scaling exponent ν with its prefactor R0 (Å)."""
    out: dict[str, float] = {"num_designs": float(len(per_design))}
    if not per_design:
        return out
    keys = dict.fromkeys(k for m in per_design for k in m)
    for k in keys:
        vals = [m[k] for m in per_design if k in m]
        out[f"mean_{k}"] = float(np.mean(vals))
    for k in ("motif_rmsd", "symmetry_rmsd"):
        vals = [m[k] for m in per_design if k in m]
        if vals:
            out[f"max_{k}"] = float(np.max(vals))
    out["clash_free"] = float(np.mean([m["ca_clashes"] == 0 for m in per_design]))
    lengths = np.array([m["length"] for m in per_design])
    rg = np.array([m["radius_of_gyration"] for m in per_design])
    nu, r0 = scaling_exponent(lengths, rg)
    out["rg_exponent"], out["rg_prefactor"] = nu, r0
    return out


__all__ = ["design_metrics", "summary_metrics", "pairwise_tm", "novelty", "tm_score",
           "has_tmtools"]
