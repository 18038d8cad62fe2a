"""The MMFF94 sanity check as an evaluation metric (:mod:`molediff.domains.chem.mmff`).

A conformer is *sane* when every bond is within 0.2 Å of its length at the conformer's
own MMFF94 local minimum and no two non-bonded heavy atoms are closer than 1.0 Å. It uses
a different force field and no fitted tolerances; the geometry gate
(:mod:`molediff.domains.chem.geometry`) runs the same test as its ``mmff`` kind, so
generated conformers pass it by construction, and ETKDG's are scored the same way.
"""

from __future__ import annotations

from dataclasses import dataclass

from rdkit import Chem

from molediff.domains.chem.mmff import BOND_TOLERANCE, MAX_ITERS, MIN_NONBONDED, MMFFLocalCheck


@dataclass(frozen=True)
class MMFFCheck:
    """Result for one conformer. ``ok`` is ``None`` when MMFF94 has no parameters for the
    molecule (nothing was checked)."""

    ok: bool | None
    max_bond_deviation: float  # Å
    min_nonbonded: float  # Å, heavy atoms only (inf with fewer than two)


def mmff_check(mol: Chem.Mol, conf_id: int = -1, max_iters: int = MAX_ITERS) -> MMFFCheck:
    """Check conformer ``conf_id`` of ``mol`` (explicit hydrogens) against its MMFF94 minimum."""
    result = MMFFLocalCheck(mol, max_iters).measure(mol.GetConformer(conf_id).GetPositions())
    return MMFFCheck(result.ok, result.max_bond_deviation, result.min_nonbonded)


def mmff_pass_rate(mols: list[Chem.Mol | None]) -> tuple[float, int]:
    """Share of all conformers of ``mols`` (``None`` skipped) that pass :func:`mmff_check`
    among those MMFF94 can parametrise, and how many could not be checked."""
    passed = checked = unchecked = 0
    for mol in mols:
        if mol is None:
            continue
        check = MMFFLocalCheck(mol)
        for conf in mol.GetConformers():
            ok = check.measure(conf.GetPositions()).ok
            if ok is None:
                unchecked += 1
                continue
            checked += 1
            passed += int(ok)
    return (passed / checked if checked else float("nan")), unchecked


__all__ = ["BOND_TOLERANCE", "MIN_NONBONDED", "MMFFCheck", "mmff_check", "mmff_pass_rate"]
