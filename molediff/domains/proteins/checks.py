"""The backbone check every design passes before it is written.

It catches gross failures, not style: a chain break or overlap between consecutive
residues, a backbone bond far from its chemical length, two residues on top of each other,
or non-finite coordinates. The tolerances are wide enough that held-out native chains pass
(``tests/domains/proteins/test_checks.py`` measures it); the finer measures (CA–CA
deviation, clashes at 3.0 Å, Ramachandran share) are metrics reported per design.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from molediff.domains.proteins.geometry import (
    CA,
    IDEAL_BONDS,
    bond_lengths,
    ca_ca_distances,
)


@dataclass(frozen=True)
class BackboneCheck:
    """Tolerances of the check (Å).

    Attributes:
        ca_ca_min, ca_ca_max: consecutive CA–CA within a chain (cis peptides ~2.9 Å,
            trans 3.8 Å; beyond 4.3 Å the chain is broken).
        bond_tolerance: largest deviation of N–CA, CA–C, C–O, C–N from Engh & Huber.
        overlap: two CA atoms closer than this are residues on top of each other.
    """

    ca_ca_min: float = 2.7
    ca_ca_max: float = 4.3
    bond_tolerance: float = 0.3
    overlap: float = 2.0

    def failures(self, bb: np.ndarray, chain: np.ndarray | None = None) -> list[str]:
        """Names of the failed tests (empty: the backbone passes)."""
        if not np.isfinite(bb).all():
            return ["non_finite"]
        out = []
        d = ca_ca_distances(bb, chain)
        if d.size and (d.min() < self.ca_ca_min or d.max() > self.ca_ca_max):
            out.append("ca_ca")
        for name, values in bond_lengths(bb, chain).items():
            if values.size and np.abs(values - IDEAL_BONDS[name]).max() > self.bond_tolerance:
                out.append("bonds")
                break
        ca = bb[:, CA]
        if len(ca) > 1:
            dd = np.linalg.norm(ca[:, None] - ca[None], axis=-1)
            np.fill_diagonal(dd, np.inf)
            if dd.min() < self.overlap:
                out.append("overlap")
        return out


DEFAULT_CHECK = BackboneCheck()

__all__ = ["BackboneCheck", "DEFAULT_CHECK"]
