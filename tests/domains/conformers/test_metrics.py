from __future__ import annotations

import math

import numpy as np
import pytest
from rdkit import Chem
from rdkit.Chem import rdDistGeom
from scipy.spatial.transform import Rotation

from molediff.domains.conformers.baselines import (
    etkdg_conformers,
    etkdg_generator,
    evaluate_ground_state_recall,
)
from molediff.domains.conformers.metrics import (
    best_rmsd,
    coverage_from_matrix,
    ensemble_diversity,
    ensemble_metrics,
    ground_state_recovery,
    rmsd_matrix,
)


def _embed(smiles: str, n: int = 1, seed: int = 3) -> Chem.Mol:
    mol = Chem.AddHs(Chem.MolFromSmiles(smiles))
    ids = rdDistGeom.EmbedMultipleConfs(mol, n, randomSeed=seed)
    assert len(ids) == n
    return mol


def _with_positions(mol: Chem.Mol, pos: np.ndarray) -> Chem.Mol:
    out = Chem.Mol(mol, confId=mol.GetConformer().GetId())
    out.GetConformer().SetPositions(np.asarray(pos, dtype=np.float64))
    return out


def test_identical_conformers_cover_fully():
    mol = _embed("CC(=O)Nc1ccc(O)cc1", n=4)
    d = rmsd_matrix(mol, Chem.Mol(mol))
    assert d.shape == (4, 4)
    np.testing.assert_allclose(np.diag(d), 0.0, atol=1e-6)
    res = coverage_from_matrix(d, threshold=0.5)
    assert res.cov_r == 1.0 and res.cov_p == 1.0
    assert res.amr_r == pytest.approx(0.0, abs=1e-6) and res.amr_p == pytest.approx(0.0, abs=1e-6)


def test_rotated_translated_permuted_copy_has_zero_rmsd():
    mol = _embed("OC(=O)c1ccccc1C(F)(F)F")
    pos = mol.GetConformer().GetPositions()
    rot = Rotation.random(random_state=0).as_matrix()
    moved = _with_positions(mol, pos @ rot.T + np.array([3.0, -7.0, 1.5]))
    order = np.random.default_rng(0).permutation(mol.GetNumAtoms()).tolist()
    permuted = Chem.RenumberAtoms(moved, order)
    assert [a.GetAtomicNum() for a in permuted.GetAtoms()] != [
        a.GetAtomicNum() for a in mol.GetAtoms()
    ]
    assert best_rmsd(permuted, mol) == pytest.approx(0.0, abs=1e-5)
    # the CF3 fluorines swapped among themselves are a symmetry, not an error
    f_idx = [a.GetIdx() for a in mol.GetAtoms() if a.GetSymbol() == "F"]
    swapped = pos.copy()
    swapped[f_idx] = pos[[f_idx[1], f_idx[2], f_idx[0]]]
    assert best_rmsd(_with_positions(mol, swapped), mol) == pytest.approx(0.0, abs=1e-5)


def test_stretched_bond_gives_half_the_stretch():
    # Ethane heavy atoms: stretching C-C by delta leaves each carbon delta/2 off after
    # optimal superposition, so the RMSD is exactly delta/2 (hydrogens are ignored).
    mol = _embed("CC")
    pos = mol.GetConformer().GetPositions()
    axis = pos[1] - pos[0]
    axis /= np.linalg.norm(axis)
    delta = 0.4
    stretched = pos.copy()
    stretched[1] += delta * axis
    assert best_rmsd(_with_positions(mol, stretched), mol) == pytest.approx(delta / 2, abs=1e-6)


def test_scaled_copy_rmsd_matches_closed_form():
    # For a copy scaled by s about the heavy-atom centroid, no rotation or symmetry can
    # beat the identity (|sX - Y| >= |s-1| |X| for any Y with |Y| = |X|), so
    # RMSD = |s - 1| * rms distance of heavy atoms from their centroid.
    mol = _embed("O=C1CCC(=O)N1C")
    pos = mol.GetConformer().GetPositions()
    heavy = np.array([a.GetAtomicNum() > 1 for a in mol.GetAtoms()])
    c = pos[heavy].mean(0)
    s = 1.1
    expected = abs(s - 1) * np.sqrt(np.mean(np.sum((pos[heavy] - c) ** 2, 1)))
    scaled = _with_positions(mol, c + s * (pos - c))
    assert best_rmsd(scaled, mol) == pytest.approx(expected, rel=1e-6)
    assert expected > 0.1  # the case is not trivially small


def test_ensemble_diversity_known_answers():
    mol = _embed("CC")
    pos = mol.GetConformer().GetPositions()
    axis = pos[1] - pos[0]
    axis /= np.linalg.norm(axis)
    # three conformers: the original twice and one with C-C stretched by 0.4 Å; pairs
    # (0, 1) = 0, (0, 2) = (1, 2) = 0.4 / 2 (see the stretched-bond case): mean 0.4 / 3
    stretched = pos.copy()
    stretched[1] += 0.4 * axis
    ens = Chem.Mol(mol)
    for p in (pos, stretched):
        conf = Chem.Conformer(ens.GetConformer())
        conf.SetPositions(p)
        ens.AddConformer(conf, assignId=True)
    assert ensemble_diversity(ens) == pytest.approx(0.4 / 3, abs=1e-6)
    assert math.isnan(ensemble_diversity(mol)) and math.isnan(ensemble_diversity(None))


def test_hydrogens_are_ignored():
    mol = _embed("CCO")
    pos = mol.GetConformer().GetPositions()
    pos[-1] += np.array([0.0, 0.0, 2.0])  # move a hydrogen far away
    assert best_rmsd(_with_positions(mol, pos), mol) == pytest.approx(0.0, abs=1e-6)
    assert best_rmsd(_with_positions(mol, pos), mol, heavy_atoms_only=False) > 0.3


def test_coverage_from_hand_matrix():
    d = np.array([[0.1, 0.9, 0.3], [0.7, 0.6, 0.8]])  # 2 references x 3 generated
    res = coverage_from_matrix(d, threshold=0.5)
    assert res.cov_r == pytest.approx(0.5)  # ref mins 0.1, 0.6
    assert res.amr_r == pytest.approx(0.35)
    assert res.cov_p == pytest.approx(2 / 3)  # gen mins 0.1, 0.6, 0.3
    assert res.amr_p == pytest.approx(1 / 3)
    assert coverage_from_matrix(d, threshold=0.65).cov_r == 1.0
    assert coverage_from_matrix(d, threshold=0.1).cov_r == 0.0  # strict "<" as in TD


def test_ensemble_counts_failures_as_zero_coverage():
    a = _embed("CCOC(=O)C", n=3)
    b = _embed("c1ccncc1", n=2)
    summary = ensemble_metrics({"a": a, "b": b}, {"a": Chem.Mol(a)}, threshold=0.5)
    assert summary.num_molecules == 2 and summary.num_failures == 1
    assert summary.cov_r_mean == pytest.approx(0.5)  # (1 + 0) / 2
    assert summary.amr_r_mean == pytest.approx(0.0, abs=1e-6)  # failure left out of AMR
    assert math.isnan(summary.per_molecule["b"].amr_r)
    assert set(summary.as_dict()) >= {"cov_r_median", "amr_p_mean", "num_failures"}


def test_ground_state_recovery_best_of_k():
    ref = _embed("CC(C)CC(=O)O", seed=11)
    gens = _embed("CC(C)CC(=O)O", n=5, seed=1)
    expected = rmsd_matrix(ref, gens).min()
    with_copy = Chem.Mol(gens)
    with_copy.AddConformer(Chem.Conformer(ref.GetConformer()), assignId=True)
    rec = ground_state_recovery([ref, ref, ref], [gens, with_copy, None], threshold=0.5)
    assert rec.best_rmsd[0] == pytest.approx(expected)
    assert rec.best_rmsd[1] == pytest.approx(0.0, abs=1e-6)
    assert rec.best_rmsd[2] == math.inf and rec.num_failures == 1
    assert rec.fraction_below == pytest.approx((int(expected < 0.5) + 1) / 3)


def test_etkdg_keeps_atom_order_and_is_seeded():
    mol = _embed("OCC1OC(O)C(O)C1O")  # the input carries a conformer: it must be dropped
    for mmff in (False, True):
        out = etkdg_conformers(mol, k=4, seed=5, mmff=mmff)
        assert out.GetNumConformers() == 4
        assert [a.GetAtomicNum() for a in out.GetAtoms()] == [
            a.GetAtomicNum() for a in mol.GetAtoms()
        ]
        assert Chem.MolToSmiles(out) == Chem.MolToSmiles(mol)
        again = etkdg_conformers(mol, k=4, seed=5, mmff=mmff)
        np.testing.assert_allclose(out.GetConformer(2).GetPositions(),
                                   again.GetConformer(2).GetPositions())
    relaxed = etkdg_conformers(mol, k=1, seed=5, mmff=True)
    raw = etkdg_conformers(mol, k=1, seed=5, mmff=False)
    assert best_rmsd(relaxed, raw, heavy_atoms_only=False) > 1e-3


def test_recall_of_etkdg_on_qm9_sample():
    from molediff.domains.chem.qm9 import load_qm9

    data = load_qm9(limit=200, use_cache=False)
    mols = [data.mol(k) for k in range(100, 200, 4)]  # 25 molecules with 6-7 heavy atoms
    bench = evaluate_ground_state_recall(mols, etkdg_generator(), k=5, seed=0)
    assert bench.recovery.best_rmsd.shape == (25,)
    assert bench.recovery.num_failures == 0
    assert bench.recovery.fraction_below >= 0.8
    assert bench.recovery.mean_best_rmsd < 0.3
    assert bench.num_conformers.sum() == 125

    def broken(mol, k, seed):
        raise ValueError("no conformer")

    bad = evaluate_ground_state_recall(mols[:3], broken, k=5)
    assert bad.recovery.num_failures == 3 and bad.recovery.fraction_below == 0.0


@pytest.mark.slow
def test_etkdg_recall_on_random_qm9_molecules():
    from molediff.domains.chem.qm9 import load_qm9

    data = load_qm9()
    rng = np.random.default_rng(0)
    mols = [data.mol(int(k)) for k in rng.choice(len(data), 200, replace=False)]
    bench = evaluate_ground_state_recall(mols, etkdg_generator(), k=10, seed=0)
    assert bench.recovery.fraction_below > 0.7
    assert bench.recovery.mean_best_rmsd < 0.35
