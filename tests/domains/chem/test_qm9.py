from __future__ import annotations

import numpy as np
import pytest
from rdkit import Chem

from molediff.domains.chem import qm9
from molediff.domains.chem.qm9 import (
    PROPERTY_NAMES,
    PROPERTY_UNITS,
    QM9Data,
    QM9ParseError,
    iter_qm9_records,
    load_qm9,
    mol_from_arrays,
    record_to_mol,
)


def test_raw_records_parse_numbers_and_units():
    recs = list(iter_qm9_records(limit=5))
    methane = recs[0]
    assert methane.index == 1 and methane.smiles == "C"
    assert methane.z.tolist() == [6, 1, 1, 1, 1]
    assert methane.pos.dtype == np.float32 and methane.pos.shape == (5, 3)
    ch = np.linalg.norm(methane.pos[1:] - methane.pos[0], axis=1)
    np.testing.assert_allclose(ch, 1.0919, atol=2e-3)  # C-H bond of methane in Å
    # Acetylene's coordinates are written "0." and "1." in the CSV: the regex must read them.
    acetylene = recs[3]
    assert acetylene.smiles == "C#C"
    np.testing.assert_allclose(acetylene.pos[:, 2], 1.0)
    assert len(PROPERTY_NAMES) == 12 and set(PROPERTY_UNITS) == set(PROPERTY_NAMES)
    assert methane.props.shape == (12,)
    # U0 of methane in hartree, HOMO in hartree
    assert methane.props[PROPERTY_NAMES.index("U0")] == pytest.approx(-40.47893)
    assert methane.props[PROPERTY_NAMES.index("homo")] == pytest.approx(-0.3877)


def test_mols_follow_geometry_and_smiles(qm9_small: QM9Data):
    assert len(qm9_small) == 300 and len(qm9_small.failed) == 0
    for k in range(0, 300, 7):
        rec = qm9_small.record(k)
        mol = qm9_small.mol(k)
        assert [a.GetAtomicNum() for a in mol.GetAtoms()] == rec.z.tolist()
        np.testing.assert_allclose(mol.GetConformer().GetPositions(), rec.pos, atol=1e-5)
        for b in mol.GetBonds():  # every bond is a covalent contact in the DFT geometry
            d = np.linalg.norm(rec.pos[b.GetBeginAtomIdx()] - rec.pos[b.GetEndAtomIdx()])
            assert 0.9 < d < 1.8
        flat = Chem.Mol(mol)
        Chem.RemoveStereochemistry(flat)
        got = Chem.MolToSmiles(Chem.RemoveHs(flat))
        want = Chem.MolToSmiles(Chem.MolFromSmiles(rec.smiles))
        assert got == want


def test_cached_arrays_rebuild_identical_molecule(qm9_small: QM9Data):
    raw = {r.index: r for r in iter_qm9_records(limit=300)}
    for k in (10, 120, 299):
        rec = qm9_small.record(k)
        direct = record_to_mol(raw[rec.index])
        rebuilt = mol_from_arrays(rec.z, rec.pos, rec.bonds, rec.charges)
        assert Chem.MolToSmiles(direct) == Chem.MolToSmiles(rebuilt)


def test_stereo_is_perceived_from_the_geometry(qm9_small: QM9Data):
    chiral = [
        k for k in range(len(qm9_small))
        if Chem.FindMolChiralCenters(qm9_small.mol(k), useLegacyImplementation=False)
    ]
    assert chiral, "the first 300 QM9 molecules contain stereocentres"
    rec = qm9_small.record(chiral[0])
    mol = qm9_small.mol(chiral[0])
    mirrored = mol_from_arrays(rec.z, rec.pos * np.array([-1, 1, 1]), rec.bonds, rec.charges)
    centres = dict(Chem.FindMolChiralCenters(mol, useLegacyImplementation=False))
    centres_m = dict(Chem.FindMolChiralCenters(mirrored, useLegacyImplementation=False))
    assert centres.keys() == centres_m.keys()
    assert all(centres[i] != centres_m[i] for i in centres)


def test_geometry_that_breaks_a_bond_is_rejected():
    rec = next(r for r in iter_qm9_records(limit=30) if r.smiles == "CCO")
    rec.pos = rec.pos.copy()
    rec.pos[2] += np.array([5.0, 0.0, 0.0], dtype=np.float32)  # pull O away from carbon
    with pytest.raises(QM9ParseError):
        record_to_mol(rec)


def test_limit_touches_no_cache_and_save_load_roundtrip(tmp_path, monkeypatch, qm9_small):
    monkeypatch.setenv("MOLEDIFF_CACHE", str(tmp_path / "cache"))
    d = load_qm9(limit=20)
    assert len(d) == 20 and not (tmp_path / "cache").exists()
    path = tmp_path / "x.npz"
    qm9_small.save(path)
    back = QM9Data.load(path)
    assert len(back) == len(qm9_small)
    np.testing.assert_array_equal(back.pos, qm9_small.pos)
    np.testing.assert_array_equal(back.smiles, qm9_small.smiles)
    sub = back.subset(back.positions_of([3, 5, 10**6]))
    assert sub.index.tolist() == [3, 5]
    np.testing.assert_array_equal(sub.record(1).pos, qm9_small.record(4).pos)
    np.testing.assert_array_equal(sub.record(1).bonds, qm9_small.record(4).bonds)
    assert sub.record(0).smiles == "O"
    assert qm9.cache_path().parent == tmp_path / "cache"


@pytest.mark.slow
def test_full_qm9_processes_with_few_failures():
    d = load_qm9()
    assert len(d) + len(d.failed) == qm9.NUM_MOLECULES
    assert len(d.failed) < 100
    assert d.atom_ptr[-1] == len(d.z) == len(d.pos)
