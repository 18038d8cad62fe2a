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
- ``internal_energy`` (optional, slow): UFF energy of the conformer (hydrogens relaxed)
  at most 100 times the mean UFF energy of 50 relaxed ETKDG conformers of the molecule.

Changed from PoseBusters for ``internal_energy``: PoseBusters builds the reference
ensemble from the InChI it perceives from *each conformer*; here it is built once per
input molecule, from the InChI of its graph and declared stereo (PoseBusters' own
functions: ``get_inchi``, ``get_energies``, ``add_hydrogens_with_uff_positions``).  A
distorted conformer can read as another stereoisomer, whose ensemble is not the molecule
asked for and costs a new 50-conformer embedding each time (minutes for an impossible
ring fusion).  For a conformer with the input's stereo both give the same ratio.

PoseBusters itself is imported lazily: importing it takes about a second.  The checks run
in this process on one thread (PoseBusters' default for the ensemble is all cores).
"""

from __future__ import annotations

import copy
import functools
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


def _energy_parameters() -> dict[str, Any]:
    module = next(m for m in posebusters_config(energy=True)["modules"]
                  if m["function"] == "energy_ratio")
    return dict(module["parameters"])


@functools.lru_cache(maxsize=4096)
def _ensemble_mean_energy(inchi: str, n_confs: int, num_threads: int) -> float:
    """Mean UFF energy (kcal/mol) of PoseBusters' relaxed ETKDG ensemble of one InChI.

    Cached: a benchmark scores several methods' conformers of the same molecules, and the
    ensemble (50 embeddings + relaxations) is by far the slowest part of the checks.
    """
    from posebusters.modules.energy_ratio import get_energies

    energies = get_energies(inchi, n_confs, num_threads)
    return sum(energies) / len(energies)


def internal_energy_ratios(
    mols: Sequence[Chem.Mol | None], num_threads: int = 1
) -> list[np.ndarray]:
    """Per molecule, per conformer: UFF energy / mean UFF energy of the molecule's ensemble.

    Args:
        mols: molecules with 3D conformers; the ensemble comes from each molecule's graph
            and stereo tags (see the module docstring).
        num_threads: threads of the ensemble's ETKDG embedding and UFF relaxation.

    Returns:
        One ``float64 [num_conformers]`` array per molecule (empty for ``None``), NaN
        where UFF has no parameters or the ensemble cannot be embedded.
    """
    from posebusters.tools.inchi import get_inchi
    from posebusters.tools.molecules import add_hydrogens_with_uff_positions
    from rdkit.Chem.rdForceFieldHelpers import UFFHasAllMoleculeParams

    n_confs = int(_energy_parameters()["ensemble_number_conformations"])
    out: list[np.ndarray] = []
    for mol in mols:
        if mol is None or mol.GetNumConformers() == 0:
            out.append(np.zeros(0))
            continue
        graph = Chem.Mol(mol)
        graph.RemoveAllConformers()
        try:
            mean = _ensemble_mean_energy(get_inchi(graph), n_confs, int(num_threads))
        except Exception:  # noqa: BLE001 - PoseBusters raises bare exceptions; NaN as it does
            mean = float("nan")
        mean = mean if mean != 0 else 1e-10  # PoseBusters' clipping
        ratios = []
        for single in _single_conformers([mol])[0]:
            try:
                filled, _, observed = add_hydrogens_with_uff_positions(single)
                ratio = observed / mean if UFFHasAllMoleculeParams(filled) else float("nan")
            except Exception:  # noqa: BLE001 - same as above
                ratio = float("nan")
            ratios.append(ratio)
        out.append(np.asarray(ratios, dtype=np.float64))
    return out


def posebusters_checks(
    mols: Sequence[Chem.Mol | None], energy: bool = True, num_threads: int = 1
) -> pd.DataFrame:
    """Run the ``mol`` checks on every conformer of every molecule.

    Args:
        mols: molecules with 3D conformers (Å), hydrogens explicit or not; ``None``
            entries and molecules without conformers give no rows.
        energy: include the slow ``internal_energy`` check.
        num_threads: threads of the energy ensemble.

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

    buster = PoseBusters(config=posebusters_config(energy=False), max_workers=0)
    pb_logger = logging.getLogger("posebusters")
    level = pb_logger.level
    pb_logger.setLevel(logging.ERROR)  # per-molecule warnings of failed modules
    try:
        table = buster.bust(singles, full_report=False)
        ratios = internal_energy_ratios(mols, num_threads) if energy else []
    finally:
        pb_logger.setLevel(level)
    table = table.reset_index(drop=True)
    out = pd.DataFrame({"mol": [k[0] for k in keys], "conf_id": [k[1] for k in keys]})
    for c in checks:
        if c == ENERGY_CHECK:
            flat = np.concatenate(ratios)
            limit = float(_energy_parameters()["threshold_energy_ratio"])
            out[c] = pd.array([pd.NA if np.isnan(r) else bool(r <= limit) for r in flat],
                              dtype="boolean")
        elif c in table.columns:
            out[c] = table[c].astype("boolean").to_numpy()
        else:
            raise RuntimeError(f"PoseBusters returned no column {c!r}; got {list(table.columns)}")
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
