"""Known-answer tests for the EDM bond rule and the molecule-generation metrics."""

from __future__ import annotations

import math
import re

import numpy as np
import pytest
import torch
from rdkit import Chem
from rdkit.Chem import AllChem

from molediff.domains.molecules.bonds import (
    ALLOWED_VALENCES,
    BOND1_PM,
    BOND2_PM,
    BOND3_PM,
    MARGIN1_PM,
    MARGIN2_PM,
    MARGIN3_PM,
    edm_bond_order,
    edm_bond_orders,
    kekule_valences,
    perceive_bonds,
)
from molediff.domains.molecules.metrics import (
    canonical_smiles,
    canonical_smiles_set,
    corrected_stability,
    edm_stability,
    edm_valid_smiles,
    evaluate_molecules,
    molecules_from_batch,
    uniqueness_novelty,
)

# ---------------------------------------------------------------------------------------
# Geometry helpers
# ---------------------------------------------------------------------------------------

_TETRA = np.array([[1, 1, 1], [1, -1, -1], [-1, 1, -1], [-1, -1, 1]], dtype=float) / math.sqrt(3)


def methane(ch: float = 1.09) -> tuple[np.ndarray, np.ndarray]:
    """CH4 with C-H = ``ch`` Å."""
    return np.array([6, 1, 1, 1, 1]), np.vstack([np.zeros(3), ch * _TETRA])


def water() -> tuple[np.ndarray, np.ndarray]:
    """H2O: O-H 0.96 Å, H-O-H 104.5 degrees."""
    a = math.radians(104.5 / 2)
    pos = np.array([[0, 0, 0], [0.96 * math.sin(a), 0.96 * math.cos(a), 0],
                    [-0.96 * math.sin(a), 0.96 * math.cos(a), 0]])
    return np.array([8, 1, 1]), pos


def ch5() -> tuple[np.ndarray, np.ndarray]:
    """A carbon with five hydrogens at 1.09 Å (trigonal bipyramid)."""
    dirs = np.array([[0, 0, 1], [0, 0, -1], [1, 0, 0],
                     [-0.5, math.sqrt(3) / 2, 0], [-0.5, -math.sqrt(3) / 2, 0]])
    return np.array([6, 1, 1, 1, 1, 1]), np.vstack([np.zeros(3), 1.09 * dirs])


def etkdg_mmff(smiles: str, seed: int = 0) -> tuple[np.ndarray, np.ndarray] | None:
    """ETKDG embedding + MMFF optimisation with explicit H (None if embedding fails)."""
    mol = Chem.AddHs(Chem.MolFromSmiles(smiles))
    if AllChem.EmbedMolecule(mol, randomSeed=seed) != 0:
        return None
    AllChem.MMFFOptimizeMolecule(mol)
    z = np.array([a.GetAtomicNum() for a in mol.GetAtoms()])
    return z, mol.GetConformer().GetPositions()


def rotate(pos: np.ndarray, seed: int) -> np.ndarray:
    q, _ = np.linalg.qr(np.random.default_rng(seed).normal(size=(3, 3)))
    return pos @ q.T + np.random.default_rng(seed + 1).normal(size=3)


# ---------------------------------------------------------------------------------------
# QM9 test-split sample (raw DFT geometries, before any filtering by the loader)
# ---------------------------------------------------------------------------------------

_FLOAT = re.compile(r"[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?")
_PT = Chem.GetPeriodicTable()


@pytest.fixture(scope="module")
def qm9_table():
    qm9 = pytest.importorskip("molediff.domains.chem.qm9")
    try:
        return qm9.read_qm9_table()
    except ImportError as e:  # qm9pack not installed
        pytest.skip(str(e))


def qm9_test_sample(table, n: int, seed: int = 0) -> tuple[list, list[str]]:
    """``n`` random molecules of the fixed QM9 test split: ``(molecules, smiles)``."""
    from molediff.domains.chem.split import load_split

    test = table[table.Index.isin(load_split()["test"])]
    rows = test.sample(n=n, random_state=seed) if n < len(test) else test
    mols = []
    for row in rows.itertuples():
        z = np.array([_PT.GetAtomicNumber(e) for e in re.findall(r"[A-Z][a-z]?", row.Elements)])
        pos = np.array(_FLOAT.findall(row.XYZ_Ang), dtype=float).reshape(-1, 3)
        mols.append((z, pos))
    return mols, rows.SMILES.tolist()


# ---------------------------------------------------------------------------------------
# Tables and the bond rule
# ---------------------------------------------------------------------------------------


def test_tables_match_edm_spot_values():
    assert (MARGIN1_PM, MARGIN2_PM, MARGIN3_PM) == (10, 5, 3)
    assert BOND1_PM["C"]["H"] == 109 and BOND1_PM["C"]["C"] == 154 and BOND1_PM["I"]["I"] == 266
    assert BOND2_PM["C"]["O"] == 120 and BOND2_PM["P"]["S"] == 186
    assert BOND3_PM["N"]["N"] == 110 and BOND3_PM["C"]["O"] == 113
    assert ALLOWED_VALENCES["P"] == (3, 5) and ALLOWED_VALENCES["S"] == (4,)
    assert ALLOWED_VALENCES["Hg"] == (1, 2) and ALLOWED_VALENCES["Bi"] == (3, 5)
    assert sum(len(r) for r in BOND1_PM.values()) == 117  # entries in EDM bonds1


@pytest.mark.parametrize("table", [BOND1_PM, BOND2_PM, BOND3_PM])
def test_tables_are_symmetric_except_edms_c_s_double(table):
    for a, row in table.items():
        for b, v in row.items():
            if table is BOND2_PM and (a, b) == ("C", "S"):
                # EDM lists C=S (160 pm) only under C; we apply it to both orders.
                assert "C" not in table["S"]
                continue
            assert table[b][a] == v
    assert edm_bond_order("S", "C", 1.60) == edm_bond_order("C", "S", 1.60) == 2


def test_bond_order_thresholds_carbon_carbon():
    # Single cut-off 154 + 10 pm, double 134 + 5, triple 120 + 3 (strict "<").
    assert edm_bond_order("C", "C", 1.641) == 0
    assert edm_bond_order("C", "C", 1.639) == 1
    assert edm_bond_order(6, 6, 1.391) == 1  # benzene-like length is "single" for EDM
    assert edm_bond_order("C", "C", 1.389) == 2
    assert edm_bond_order("C", "C", 1.235) == 2
    assert edm_bond_order("C", "C", 1.229) == 3
    assert edm_bond_order("C", "C", 1.20) == 3
    # No double/triple tabulated for C-F or H-H.
    assert edm_bond_order("C", "F", 1.0) == 1
    assert edm_bond_order("H", "H", 0.74) == 1
    # Pairs absent from the tables are never bonded.
    assert edm_bond_order("B", "C", 1.5) == 0


def test_vectorised_orders_match_scalar_rule():
    rng = np.random.default_rng(0)
    elements = [6, 1, 7, 8, 9, 16, 15, 17]
    for _ in range(20):
        n = int(rng.integers(2, 12))
        z = rng.choice(elements, size=n)
        pos = rng.normal(size=(n, 3)) * 1.0
        orders = edm_bond_orders(z, pos)
        assert (orders == orders.T).all() and (np.diag(orders) == 0).all()
        for i in range(n):
            for j in range(n):
                if i != j:
                    d = float(np.linalg.norm(pos[i] - pos[j]))
                    assert orders[i, j] == edm_bond_order(int(z[i]), int(z[j]), d)


# ---------------------------------------------------------------------------------------
# Hand-built stability cases
# ---------------------------------------------------------------------------------------


def test_methane_is_stable():
    z, pos = methane()
    assert edm_stability(z, pos) == (True, 5, 5)
    assert corrected_stability(z, pos) == (True, 5, 5)
    # Rigid motions and torch inputs do not change anything.
    assert edm_stability(torch.tensor(z), torch.tensor(rotate(pos, 3))) == (True, 5, 5)


def test_carbon_with_five_hydrogens_is_unstable():
    z, pos = ch5()
    stable, n_stable, n = edm_stability(z, pos)
    assert not stable and n_stable == 5 and n == 6  # only the carbon (valence 5) fails
    assert not corrected_stability(z, pos)[0]


def test_stretched_ch_bond_is_unstable():
    z, pos = methane()
    pos[1] *= 3.0 / np.linalg.norm(pos[1])  # C-H 1 at 3 Å
    assert edm_stability(z, pos) == (False, 3, 5)  # C (valence 3) and the lost H fail
    stable, n_stable, _ = corrected_stability(z, pos)
    assert not stable and n_stable <= 3


def test_benzene_edm_rule_vs_corrected():
    z, pos = etkdg_mmff("c1ccccc1")
    # MMFF puts every ring C-C at ~139.5 pm, just above EDM's 139 pm double cut-off: all
    # ring bonds come out single, so the six carbons have valence 3 (measured: 6 of 12
    # atoms stable).
    ring = [edm_bond_orders(z, pos)[i, (i + 1) % 6] for i in range(6)]
    assert ring == [1] * 6
    assert edm_stability(z, pos) == (False, 6, 12)
    assert corrected_stability(z, pos) == (True, 12, 12)


@pytest.mark.parametrize(
    "smiles", ["c1ccccc1", "c1ccncc1", "c1cc[nH]c1", "c1ccoc1", "c1ccsc1", "c1ccc2ccccc2c1"]
)
def test_aromatics_stable_under_corrected_variant(smiles):
    z, pos = etkdg_mmff(smiles)
    assert corrected_stability(z, pos)[0]


def test_kekule_valences_never_sum_aromatic_halves():
    # Pyrrole's N-H nitrogen: 1.5 + 1.5 + 1 would round to 4; its Kekulé valence is 3.
    mol = Chem.AddHs(Chem.MolFromSmiles("c1cc[nH]c1"))
    n_idx = next(a.GetIdx() for a in mol.GetAtoms() if a.GetSymbol() == "N")
    assert kekule_valences(mol)[n_idx] == 3


def test_perceive_bonds_localises_failure_to_a_fragment():
    zm, pm = methane()
    zc, pc = ch5()
    z = np.concatenate([zm, zc])
    pos = np.vstack([pm, pc + 10.0])
    _, assigned = perceive_bonds(z, pos)
    assert assigned[:5].all() and not assigned[5:].any()


# ---------------------------------------------------------------------------------------
# Validity, uniqueness, novelty
# ---------------------------------------------------------------------------------------


def test_canonical_smiles_drops_h_and_stereo():
    assert canonical_smiles("[H]C([H])([H])[H]") == "C"
    assert canonical_smiles("C[C@H](O)F") == canonical_smiles("CC(F)O")
    assert canonical_smiles("not a smiles") is None
    assert canonical_smiles_set(["OCC", "CCO", "C1CC"]) == {"CCO"}


def test_edm_validity_of_hand_made_molecules():
    assert edm_valid_smiles(*methane()) == ("C", 1)
    assert edm_valid_smiles(*ch5()) == (None, 0)  # pentavalent carbon fails sanitisation
    # Methane and a distant water: valid (EDM sanitises the whole thing), largest fragment.
    zm, pm = methane()
    zw, pw = water()
    assert edm_valid_smiles(np.concatenate([zm, zw]), np.vstack([pm, pw + 8.0])) == ("C", 2)


def test_validity_uniqueness_novelty_known_answers():
    zm, pm = methane()
    mols = [methane(), (zm, rotate(pm, 7)), ch5(), water()]
    res = evaluate_molecules(mols, train_smiles=["[H]C([H])([H])[H]", "CCO"])
    assert res["validity"] == pytest.approx(3 / 4)  # CH5 invalid
    assert res["uniqueness"] == pytest.approx(2 / 3)  # {C, O} among C, C, O
    assert res["valid_unique"] == pytest.approx(3 / 4 * 2 / 3)
    assert res["novelty"] == pytest.approx(1 / 2)  # water is novel, methane is not
    assert res["molecule_stability"] == pytest.approx(3 / 4)
    assert res["atom_stability"] == pytest.approx((5 + 5 + 5 + 3) / 19)
    assert res["molecule_stability_corrected"] == pytest.approx(3 / 4)
    assert math.isnan(evaluate_molecules(mols)["novelty"])
    assert uniqueness_novelty([], set()) == (0.0, 0.0)


def test_evaluate_handles_empty_inputs_and_batches():
    res = evaluate_molecules([])
    assert res["validity"] == 0.0 and res["atom_stability"] == 0.0
    z = torch.tensor([6, 1, 1, 1, 1, 8, 1, 1])
    pos = torch.tensor(np.vstack([methane()[1], water()[1]]))
    batch = torch.tensor([0, 0, 0, 0, 0, 1, 1, 1])
    mols = molecules_from_batch(z, pos, batch)
    assert [len(m[0]) for m in mols] == [5, 3]
    assert evaluate_molecules(mols)["molecule_stability"] == 1.0


# ---------------------------------------------------------------------------------------
# Real geometries
# ---------------------------------------------------------------------------------------


def test_qm9_test_geometries_match_edm_reported_stability(qm9_table):
    """EDM reports 99.0 % atom / 95.2 % molecule stability for QM9 itself.

    Measured here on the full fixed test split (13,083 molecules): 99.38 % / 95.47 %
    (corrected: 99.96 % / 99.65 %; validity 97.79 %, EDM reports 97.7 %). With 500
    molecules the binomial s.d. of molecule stability is sqrt(.955 * .045 / 500) = 0.93
    points; four seeds gave 93.2-95.4 %, so +-3 points (>3 s.d.) and +-0.5 points for
    atoms (seeds: 99.06-99.36 %) hold for any sample while catching a wrong table entry
    (one wrong C-C or C-N entry moves molecule stability by many points).
    """
    mols, _ = qm9_test_sample(qm9_table, 500, seed=0)
    res = evaluate_molecules(mols)
    assert res["atom_stability"] == pytest.approx(0.9938, abs=0.005)
    assert res["molecule_stability"] == pytest.approx(0.955, abs=0.03)
    assert res["molecule_stability_corrected"] >= 0.98
    assert res["validity"] == pytest.approx(0.978, abs=0.03)
    assert res["uniqueness"] >= 0.99


def test_etkdg_mmff_geometries_of_qm9_smiles(qm9_table):
    """ETKDG + MMFF geometries of QM9 SMILES.

    Measured on 297 of these 300: corrected 99.7 % atom / 99.3 % molecule stability (the
    misses are two strained cages); EDM's rule gives 98.7 % / 91.9 %, because MMFF's
    conjugated bond lengths (aromatic rings, amides) fall between EDM's cut-offs.
    """
    _, smiles = qm9_test_sample(qm9_table, 300, seed=1)
    mols = [m for m in (etkdg_mmff(s) for s in smiles) if m is not None]
    assert len(mols) >= 290
    res = evaluate_molecules(mols)
    assert res["atom_stability_corrected"] >= 0.99
    assert res["molecule_stability_corrected"] >= 0.97
    assert res["atom_stability"] >= 0.97
    assert res["molecule_stability"] >= 0.85


@pytest.mark.slow
def test_full_qm9_test_split_and_novelty(qm9_table):
    """All 13,083 test molecules (~30 s): EDM numbers and novelty against the train split."""
    from molediff.domains.chem.split import load_split

    mols, _ = qm9_test_sample(qm9_table, 10**9)
    train = qm9_table[qm9_table.Index.isin(load_split()["train"])].SMILES
    res = evaluate_molecules(mols, train_smiles=train)
    assert res["atom_stability"] == pytest.approx(0.9938, abs=0.001)
    assert res["molecule_stability"] == pytest.approx(0.9547, abs=0.003)
    assert res["validity"] == pytest.approx(0.978, abs=0.003)
    # The split keeps InChI groups together, so almost every test graph is novel.
    assert res["novelty"] >= 0.99
