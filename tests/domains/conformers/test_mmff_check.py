from __future__ import annotations

import numpy as np
import pytest
from rdkit import Chem
from rdkit.Chem import AllChem
from rdkit.Geometry import Point3D

from molediff.domains.conformers.mmff_check import mmff_check, mmff_pass_rate


@pytest.fixture()
def aspirin() -> Chem.Mol:
    mol = Chem.AddHs(Chem.MolFromSmiles("CC(=O)Oc1ccccc1C(=O)O"))
    assert AllChem.EmbedMolecule(mol, randomSeed=7) == 0
    AllChem.MMFFOptimizeMolecule(mol)
    return mol


def test_a_minimised_conformer_is_sane(aspirin):
    result = mmff_check(aspirin)
    assert result.ok is True
    assert result.max_bond_deviation < 0.01
    assert 2.0 < result.min_nonbonded < 3.5  # 1-3 heavy pairs sit near 2.4 Å


def test_a_stretched_bond_fails(aspirin):
    conf = aspirin.GetConformer()
    # pull the methyl carbon 0.5 Å away from its carbonyl carbon, along the bond
    p0, p1 = np.array(conf.GetAtomPosition(0)), np.array(conf.GetAtomPosition(1))
    moved = p0 + 0.5 * (p0 - p1) / np.linalg.norm(p0 - p1)
    conf.SetAtomPosition(0, Point3D(*moved))
    result = mmff_check(aspirin)
    assert result.ok is False
    assert result.max_bond_deviation > 0.3


def test_a_clash_fails_and_the_pass_rate_counts_conformers(aspirin):
    bad = Chem.Mol(aspirin)
    conf = bad.GetConformer()
    # put a ring carbon 0.5 Å from the acetyl methyl: a non-bonded heavy pair under 1 Å
    target = np.array(conf.GetAtomPosition(0)) + np.array([0.5, 0.0, 0.0])
    conf.SetAtomPosition(7, Point3D(*target))
    assert mmff_check(bad).min_nonbonded < 1.0
    assert mmff_check(bad).ok is False
    both = Chem.Mol(aspirin)
    both.AddConformer(bad.GetConformer(), assignId=True)
    rate, unchecked = mmff_pass_rate([both, None])
    assert rate == pytest.approx(0.5) and unchecked == 0
