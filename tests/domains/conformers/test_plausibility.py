"""PoseBusters molecule checks: a relaxed conformer passes; a stretched bond and a clash fail."""

from __future__ import annotations

import math

import numpy as np
import pytest
from rdkit import Chem
from rdkit.Chem import AllChem, rdMolTransforms

from molediff.domains.conformers.plausibility import (
    ENERGY_CHECK,
    MOL_CHECKS,
    internal_energy_ratios,
    pass_rates,
    posebusters_checks,
    posebusters_config,
)

# aspirin: aromatic ring, ester, carboxylic acid
SMILES = "CC(=O)Oc1ccccc1C(=O)O"


@pytest.fixture(scope="module")
def aspirin() -> Chem.Mol:
    mol = Chem.AddHs(Chem.MolFromSmiles(SMILES))
    AllChem.EmbedMultipleConfs(mol, 2, randomSeed=7)
    AllChem.MMFFOptimizeMoleculeConfs(mol, numThreads=1, maxIters=2000)
    return mol


def _one_conformer(mol: Chem.Mol) -> Chem.Mol:
    out = Chem.Mol(mol)
    conf = Chem.Conformer(out.GetConformer(0))
    out.RemoveAllConformers()
    out.AddConformer(conf, assignId=True)
    return out


def test_relaxed_conformers_pass_every_check(aspirin: Chem.Mol) -> None:
    table = posebusters_checks([aspirin, None], energy=True)
    assert list(table.columns) == ["mol", "conf_id", *MOL_CHECKS]
    assert table["mol"].tolist() == [0, 0] and table["conf_id"].tolist() == [0, 1]
    rates = pass_rates(table)
    assert rates == {c: 1.0 for c in [*MOL_CHECKS, "all_pass"]}


def test_stretched_bond_fails_bond_lengths(aspirin: Chem.Mol) -> None:
    mol = _one_conformer(aspirin)
    # ester O - aromatic C (atoms 3, 4): acyclic, so SetBondLength moves one side rigidly
    conf = mol.GetConformer()
    assert rdMolTransforms.GetBondLength(conf, 3, 4) < 1.5
    rdMolTransforms.SetBondLength(conf, 3, 4, 2.5)
    assert math.isclose(rdMolTransforms.GetBondLength(conf, 3, 4), 2.5, abs_tol=1e-6)
    row = posebusters_checks([mol], energy=False).iloc[0]
    assert not row["bond_lengths"]
    assert row["aromatic_ring_flatness"] and row["sanitization"]
    rates = pass_rates(posebusters_checks([mol, _one_conformer(aspirin)], energy=False))
    assert rates["bond_lengths"] == 0.5 and rates["all_pass"] == 0.5
    assert ENERGY_CHECK not in rates


def test_atoms_03_angstrom_apart_clash(aspirin: Chem.Mol) -> None:
    mol = _one_conformer(aspirin)
    conf = mol.GetConformer()
    # methyl carbon (0) onto the carboxylic acid's hydroxyl oxygen (12): not bonded,
    # far apart in the graph
    assert mol.GetBondBetweenAtoms(0, 12) is None
    target = np.array(conf.GetAtomPosition(12))
    conf.SetAtomPosition(0, (target + np.array([0.3, 0.0, 0.0])).tolist())
    assert math.isclose(rdMolTransforms.GetBondLength(conf, 0, 12), 0.3, abs_tol=1e-6)
    before = posebusters_checks([_one_conformer(aspirin)], energy=False).iloc[0]
    after = posebusters_checks([mol], energy=False).iloc[0]
    assert before["internal_steric_clash"] and not after["internal_steric_clash"]


def test_energy_ratio_equals_posebusters_own_for_input_stereo(aspirin: Chem.Mol) -> None:
    from posebusters import check_energy_ratio

    ratios = internal_energy_ratios([None, aspirin])
    assert ratios[0].size == 0 and ratios[1].shape == (2,)
    own = check_energy_ratio(_one_conformer(aspirin), threshold_energy_ratio=100.0,
                             ensemble_number_conformations=50, num_threads=1)
    assert 0 < ratios[1][0] < 100
    assert math.isclose(ratios[1][0], own["results"]["energy_ratio"], rel_tol=1e-6)
    # a squashed copy (all coordinates scaled by 0.6) is far above the ensemble energy
    squashed = _one_conformer(aspirin)
    squashed.GetConformer().SetPositions(squashed.GetConformer().GetPositions() * 0.6)
    (ratio,) = internal_energy_ratios([squashed])[0]
    assert ratio > 100
    assert not posebusters_checks([squashed])[ENERGY_CHECK].iloc[0]


def test_config_has_one_energy_module_on_one_thread() -> None:
    with_energy = posebusters_config(energy=True, num_threads=1)["modules"]
    energy = [m for m in with_energy if m["function"] == "energy_ratio"]
    assert len(energy) == 1 and energy[0]["parameters"]["num_threads"] == 1
    without = posebusters_config(energy=False)["modules"]
    assert not [m for m in without if m["function"] == "energy_ratio"]
    assert len(without) == len(with_energy) - 1


def test_empty_input_gives_empty_table_and_nan_rates() -> None:
    table = posebusters_checks([None, Chem.MolFromSmiles("CCO")], energy=False)
    assert len(table) == 0 and ENERGY_CHECK not in table.columns
    rates = pass_rates(table)
    assert all(math.isnan(v) for v in rates.values()) and "all_pass" in rates
