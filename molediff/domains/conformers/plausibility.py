"""Intramolecular plausibility of conformers with PoseBusters' molecule-only ("mol") checks.

PoseBusters (Buttenschoen, Morris, Deane, *Chem. Sci.* 15, 3130 (2024); PyPI
``posebusters``) tests a single 3D molecule, without a protein or a reference pose, with
the checks of its ``mol`` configuration (column names as returned here):

- ``mol_pred_loaded``, ``sanitization`` (RDKit sanitises), ``inchi_convertible``,
  ``all_atoms_connected`` (one fragment), ``no_radicals``;
- ``bond_lengths``, ``bond_angles``: every heavy-atom bond length and 1-3 distance lies
  within RDKit's distance-geometry bounds widened by 25 %;
- ``internal_steric_clash``: no non-bonded heavy-atom pair is closer than its DG lower
  bound minus 30 %;
- ``aromatic_ring_flatness`` (aromatic 5- and 6-rings within 0.25 Å of a plane),
  ``non-aromatic_ring_non-flatness`` (saturated 6-rings not flat to 0.05 Å),
  ``double_bond_flatness`` (C=C with its four substituents within 0.25 Å of a plane);
- ``internal_energy`` (optional, slow): UFF energy of the conformer at most 100 times the
  mean UFF energy of 50 ETKDG conformers of the same molecule (the ensemble is computed
  once per distinct molecule and cached by PoseBusters).

PoseBusters itself is imported lazily: importing it takes about a second.  The checks run
in this process on one thread (PoseBusters' default for the ensemble is all cores).
"""

from __future__ import annotations

import copy
import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from rdkit import Chem

#: every check of the "mol" configuration, in PoseBusters' order
MOL_CHECKS: tuple[str, ...] = (
    "mol_pred_loaded", "sanitization", "inchi_convertible", "all_atoms_connected",
    "no_radicals", "bond_lengths", "bond_angles", "internal_steric_clash",
    "aromatic_ring_flatness", "non-aromatic_ring_non-flatness", "double_bond_flatness",
    "internal_energy",
)
ENERGY_CHECK = "internal_energy"


def posebusters_config(energy: bool = True, num_threads: int = 1) -> dict[str, Any]:
    """PoseBusters' bundled ``mol`` configuration, ready to run.

    The shipped file lists the energy module twice (once without an output column, so
    the energy would be computed twice per conformer); the extra entry is dropped and
    the ensemble is computed on ``num_threads`` threads.

    Args:
        energy: include the ``internal_energy`` check.
        num_threads: RDKit threads of the energy module's ETKDG/UFF ensemble.
    """
    import posebusters
    import yaml

    path = Path(posebusters.__file__).parent / "config" / "mol.yml"
    config = yaml.safe_load(path.read_text())
    modules = []
    for module in config["modules"]:
        if module["function"] == "energy_ratio":
            if not energy or not module.get("chosen_binary_test_output"):
                continue
            module = copy.deepcopy(module)
            module.setdefault("parameters", {})["num_threads"] = int(num_threads)
        modules.append(module)
    config["modules"] = modules
    return config


def _single_conformers(mols: Sequence[Chem.Mol | None]) -> tuple[list[Chem.Mol], list[tuple[int, int]]]:
    singles, keys = [], []
    for i, mol in enumerate(mols):
        if mol is None:
            continue
        for conf in mol.GetConformers():
            # conformer id 0: some PoseBusters modules read conformer 0 explicitly
            single = Chem.Mol(mol)
            single.RemoveAllConformers()
            single.AddConformer(Chem.Conformer(conf), assignId=True)
            singles.append(single)
            keys.append((i, conf.GetId()))
    return singles, keys


def posebusters_checks(
    mols: Sequence[Chem.Mol | None], energy: bool = True, num_threads: int = 1
) -> pd.DataFrame:
    """Run the ``mol`` checks on every conformer of every molecule.

    Args:
        mols: molecules with 3D conformers (Å), hydrogens explicit or not; ``None``
            entries and molecules without conformers give no rows.
        energy: include the slow ``internal_energy`` check.
        num_threads: threads of the energy module.

    Returns:
        One row per conformer: ``mol`` (position in ``mols``), ``conf_id``, then one
        nullable-boolean column per check (``<NA>`` where PoseBusters could not decide,
        e.g. no UFF parameters).
    """
    singles, keys = _single_conformers(mols)
    checks = [c for c in MOL_CHECKS if energy or c != ENERGY_CHECK]
    if not singles:
        return pd.DataFrame({"mol": pd.Series(dtype=int), "conf_id": pd.Series(dtype=int),
                             **{c: pd.Series(dtype="boolean") for c in checks}})
    from posebusters import PoseBusters

    buster = PoseBusters(config=posebusters_config(energy, num_threads), max_workers=0)
    pb_logger = logging.getLogger("posebusters")
    level = pb_logger.level
    pb_logger.setLevel(logging.ERROR)  # per-molecule warnings of failed modules
    try:
        table = buster.bust(singles, full_report=False)
    finally:
        pb_logger.setLevel(level)
    table = table.reset_index(drop=True)
    missing = [c for c in checks if c not in table.columns]
    if missing:
        raise RuntimeError(f"PoseBusters returned no column(s) {missing}; got {list(table.columns)}")
    out = pd.DataFrame({"mol": [k[0] for k in keys], "conf_id": [k[1] for k in keys]})
    for c in checks:
        out[c] = table[c].astype("boolean").to_numpy()
    return out


def pass_rates(table: pd.DataFrame) -> dict[str, float]:
    """Fraction of conformers passing each check, and ``all_pass`` (every check passed).

    An undecided check (``<NA>``) counts as failed.  Empty tables give NaN.
    """
    checks = [c for c in table.columns if c not in ("mol", "conf_id")]
    if len(table) == 0:
        return {c: float("nan") for c in [*checks, "all_pass"]}
    passed = table[checks].fillna(False).astype(bool)
    rates = {c: float(passed[c].mean()) for c in checks}
    rates["all_pass"] = float(np.all(passed.to_numpy(), axis=1).mean())
    return rates
