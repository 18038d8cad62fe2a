from __future__ import annotations

import numpy as np
from rdkit import Chem
from rdkit.Chem import rdDistGeom

from molediff.domains.chem.stereo import check_stereo


def _embed(smiles: str, seed: int = 7) -> Chem.Mol:
    mol = Chem.AddHs(Chem.MolFromSmiles(smiles))
    assert rdDistGeom.EmbedMolecule(mol, randomSeed=seed) == 0
    return mol


def _mirror(mol: Chem.Mol) -> Chem.Mol:
    out = Chem.Mol(mol)
    conf = out.GetConformer()
    conf.SetPositions(conf.GetPositions() * np.array([-1.0, 1.0, 1.0]))
    return out


def test_chiral_molecule_and_its_mirror_image():
    smiles = "C[C@H](N)C(=O)O"  # L-alanine
    ref = Chem.MolFromSmiles(smiles)
    gen = _embed(smiles)
    ok = check_stereo(ref, gen)
    assert ok.ok and ok.num_checked == 1 and not ok.mismatches
    bad = check_stereo(ref, _mirror(gen))
    assert not bad.ok and bad.mismatches == ["atom 1: expected S, got R"]


def test_two_centres_one_wrong():
    smiles = "C[C@H](O)[C@@H](C)N"
    ref = Chem.MolFromSmiles(smiles)
    other = _embed("C[C@H](O)[C@H](C)N")  # epimer at atom 3, same atom order
    report = check_stereo(ref, other)
    assert not report.ok and report.num_checked == 2
    assert len(report.mismatches) == 1 and report.mismatches[0].startswith("atom 3")


def test_double_bond_stereo():
    ref = Chem.MolFromSmiles("C/C=C/C")  # E
    assert check_stereo(ref, _embed("C/C=C/C")).ok
    report = check_stereo(ref, _embed("C/C=C\\C"))
    assert not report.ok and "expected E, got Z" in report.mismatches[0]


def test_unspecified_input_stereo_is_not_checked():
    ref = Chem.MolFromSmiles("CC(N)C(=O)O")
    report = check_stereo(ref, _mirror(_embed("C[C@H](N)C(=O)O")))
    assert report.ok and report.num_checked == 0
