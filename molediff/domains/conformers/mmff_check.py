"""An independent check of a conformer's local geometry against its own MMFF94 minimum.

A conformer is *sane* when, after MMFF94 minimisation of a copy, every bond length of
the original is within :data:`BOND_TOLERANCE` (0.2 Å) of the minimised one, and no two
heavy atoms that are not bonded to each other are closer than :data:`MIN_NONBONDED`
(1.0 Å). The minimum is the conformer's own (a local minimisation from it), so a
correct but strained conformer passes; a torn bond (C–I at 1.44 Å, a "bond" of 24 Å) or
two atoms on top of each other do not. It uses a different force field and no fitted
tolerances, so it checks the geometry gate (:mod:`molediff.domains.chem.geometry`)
from outside.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from rdkit import Chem
from rdkit.Chem import rdForceFieldHelpers

#: largest allowed |bond length - MMFF-minimised bond length|, Å
BOND_TOLERANCE = 0.2
#: smallest allowed distance between non-bonded heavy atoms, Å
MIN_NONBONDED = 1.0


@dataclass(frozen=True)
class MMFFCheck:
    """Result for one conformer. ``ok`` is ``None`` when MMFF94 has no parameters for the
    molecule (nothing was checked)."""

    ok: bool | None
    max_bond_deviation: float  # Å
    min_nonbonded: float  # Å, heavy atoms only (inf with fewer than two)


def mmff_check(mol: Chem.Mol, conf_id: int = -1, max_iters: int = 2000) -> MMFFCheck:
    """Check conformer ``conf_id`` of ``mol`` (explicit hydrogens) against its MMFF94 minimum."""
    probe = Chem.Mol(mol, confId=conf_id)
    before = np.asarray(probe.GetConformer().GetPositions(), dtype=np.float64)
    bonds = np.array([(b.GetBeginAtomIdx(), b.GetEndAtomIdx()) for b in probe.GetBonds()],
                     dtype=np.int64).reshape(-1, 2)
    heavy = np.array([a.GetAtomicNum() > 1 for a in probe.GetAtoms()])
    nonbonded_min = _min_nonbonded(before, bonds, heavy)
    if not rdForceFieldHelpers.MMFFHasAllMoleculeParams(probe):
        return MMFFCheck(None, float("nan"), nonbonded_min)
    rdForceFieldHelpers.MMFFOptimizeMolecule(probe, maxIters=max_iters)
    after = np.asarray(probe.GetConformer().GetPositions(), dtype=np.float64)
    if len(bonds):
        d0 = np.linalg.norm(before[bonds[:, 0]] - before[bonds[:, 1]], axis=1)
        d1 = np.linalg.norm(after[bonds[:, 0]] - after[bonds[:, 1]], axis=1)
        deviation = float(np.max(np.abs(d0 - d1)))
    else:
        deviation = 0.0
    ok = bool(np.isfinite(deviation) and deviation <= BOND_TOLERANCE
              and nonbonded_min >= MIN_NONBONDED)
    return MMFFCheck(ok, deviation, nonbonded_min)


def _min_nonbonded(xyz: np.ndarray, bonds: np.ndarray, heavy: np.ndarray) -> float:
    idx = np.flatnonzero(heavy)
    if idx.size < 2:
        return float("inf")
    p = xyz[idx]
    d = np.linalg.norm(p[:, None] - p[None], axis=-1)
    bonded = np.zeros((len(xyz), len(xyz)), bool)
    bonded[bonds[:, 0], bonds[:, 1]] = bonded[bonds[:, 1], bonds[:, 0]] = True
    d[bonded[np.ix_(idx, idx)]] = np.inf
    d[np.diag_indices_from(d)] = np.inf
    return float(d.min())


def mmff_pass_rate(mols: list[Chem.Mol | None]) -> tuple[float, int]:
    """Share of all conformers of ``mols`` (``None`` skipped) that pass :func:`mmff_check`
    among those MMFF94 can parametrise, and how many could not be checked."""
    passed = checked = unchecked = 0
    for mol in mols:
        if mol is None:
            continue
        for conf in mol.GetConformers():
            result = mmff_check(mol, conf.GetId())
            if result.ok is None:
                unchecked += 1
                continue
            checked += 1
            passed += int(result.ok)
    return (passed / checked if checked else float("nan")), unchecked


__all__ = ["BOND_TOLERANCE", "MIN_NONBONDED", "MMFFCheck", "mmff_check", "mmff_pass_rate"]
