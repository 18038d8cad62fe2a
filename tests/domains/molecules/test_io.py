"""SDF / XYZ output of generated molecules: round trips, bond modes, atomic writes."""

from __future__ import annotations

import math
import os

import numpy as np
import pytest
from rdkit import Chem
from rdkit.Chem import AllChem

from molediff.domains.molecules import io as mio
from molediff.domains.molecules.io import (
    atomic_write_text,
    molecule_to_mol,
    parse_sdf,
    parse_xyz,
    read_sdf,
    read_sdf_mols,
    read_xyz,
    write_sdf,
    write_xyz,
)


def phenol() -> tuple[np.ndarray, np.ndarray]:
    mol = Chem.AddHs(Chem.MolFromSmiles("Oc1ccccc1"))
    AllChem.EmbedMolecule(mol, randomSeed=0)
    AllChem.MMFFOptimizeMolecule(mol)
    return np.array([a.GetAtomicNum() for a in mol.GetAtoms()]), mol.GetConformer().GetPositions()


def methane() -> tuple[np.ndarray, np.ndarray]:
    d = 1.09 / math.sqrt(3)
    pos = np.array([[0, 0, 0], [d, d, d], [d, -d, -d], [-d, d, -d], [-d, -d, d]])
    return np.array([6, 1, 1, 1, 1]), pos


def ch5() -> tuple[np.ndarray, np.ndarray]:
    z, pos = methane()
    return np.append(z, 1), np.vstack([pos, [0.0, 0.0, -1.09]])


def test_xyz_round_trip(tmp_path):
    mols = [phenol(), methane()]
    path = write_xyz(tmp_path / "out" / "gen.xyz", mols, comments=["a", "b c"])
    back = read_xyz(path)
    assert [c for *_, c in back] == ["a", "b c"]
    for (z, p), (z2, p2, _) in zip(mols, back, strict=True):
        assert (z == z2).all()
        np.testing.assert_allclose(p2, p, atol=1e-6)  # 6 decimals in Å


def test_parse_xyz_rejects_truncated_frame():
    with pytest.raises(ValueError, match="truncated"):
        parse_xyz("3\ncomment\nC 0 0 0\nH 1 0 0\n")
    assert parse_xyz("1\n\nc 0 0 0\n")[0][0].tolist() == [6]  # lower-case symbols too


@pytest.mark.parametrize("bonds", ["edm", "rdkit", "none"])
def test_sdf_round_trip_positions_and_properties(tmp_path, bonds):
    mols = [phenol(), methane()]
    path = write_sdf(
        tmp_path / "gen.sdf", mols, bonds=bonds, names=["p", "m"],
        properties=[{"score": 1.5}, {"score": 2}],
    )
    back = read_sdf(path)
    for (z, p), (z2, p2) in zip(mols, back, strict=True):
        assert (z == z2).all()
        np.testing.assert_allclose(p2, p, atol=1e-4)  # V2000 keeps 4 decimals
    recs = read_sdf_mols(path)
    assert [m.GetProp("_Name") for m in recs] == ["p", "m"]
    assert recs[0].GetProp("score") == "1.5"
    assert recs[0].GetProp("molediff_bonds") == bonds
    n_bonds = recs[0].GetNumBonds()
    assert n_bonds == (0 if bonds == "none" else 13)


def test_rdkit_bonds_recover_aromatic_molecule_edm_bonds_do_not(tmp_path):
    path = write_sdf(tmp_path / "a.sdf", [phenol()], bonds="rdkit")
    mol = read_sdf_mols(path, sanitize=True)[0]
    assert Chem.MolToSmiles(Chem.RemoveHs(mol)) == "Oc1ccccc1"
    # EDM's table gives the ring C-C (~139.5 pm) as single bonds: the record is written as
    # assigned (no kekulisation) and is not a valid phenol.
    edm = read_sdf_mols(write_sdf(tmp_path / "b.sdf", [phenol()], bonds="edm"))[0]
    assert Chem.MolToSmiles(Chem.RemoveHs(edm, sanitize=False)) != "Oc1ccccc1"


def test_rdkit_bonds_fall_back_to_edm_for_failed_fragment():
    mol = molecule_to_mol(*ch5(), bonds="rdkit")
    assert mol.GetProp("molediff_bonds") == "rdkit+edm_fallback"
    assert mol.GetNumBonds() == 5


def test_parse_sdf_keeps_invalid_molecules(tmp_path):
    text = (tmp_path / "c.sdf")
    write_sdf(text, [ch5()], bonds="edm")
    mols = parse_sdf(text.read_text())
    assert mols[0].GetNumAtoms() == 6 and mols[0].GetNumBonds() == 5


def test_write_sdf_accepts_rdkit_mols(tmp_path):
    mol = Chem.AddHs(Chem.MolFromSmiles("CCO"))
    AllChem.EmbedMolecule(mol, randomSeed=0)
    back = read_sdf_mols(write_sdf(tmp_path / "m.sdf", [mol]), sanitize=True)[0]
    assert Chem.MolToSmiles(Chem.RemoveHs(back)) == "CCO"


def test_atomic_write_failure_keeps_old_file_and_leaves_no_temp(tmp_path, monkeypatch):
    path = tmp_path / "gen.sdf"
    write_sdf(path, [methane()])
    before = path.read_text()

    # A bad molecule in the list fails before anything touches the file system.
    with pytest.raises(ValueError):
        write_sdf(path, [methane(), (np.array([6]), np.zeros((2, 3)))])
    assert path.read_text() == before

    # A failure during the write itself (after the temp file exists) is cleaned up too.
    def broken_fsync(fd: int) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(mio.os, "fsync", broken_fsync)
    with pytest.raises(OSError, match="disk full"):
        atomic_write_text(path, "partial")
    monkeypatch.undo()
    assert path.read_text() == before
    assert sorted(os.listdir(tmp_path)) == ["gen.sdf"]


def test_atomic_write_replaces_content(tmp_path):
    path = atomic_write_text(tmp_path / "x.txt", "one")
    atomic_write_text(path, "two")
    assert path.read_text() == "two"
    assert os.listdir(tmp_path) == ["x.txt"]
