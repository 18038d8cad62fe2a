"""The geometry gate: known answers on force-field conformers of drugs, broken geometries
that must fail with the right reason, and pass rates on held-out real geometries (QM9 DFT
test molecules, CCD ideal test ligands)."""

from __future__ import annotations

import numpy as np
import pytest
from rdkit import Chem, rdBase
from rdkit.Chem import AllChem

from molediff.domains.chem import geometry as G
from molediff.domains.chem.geometry import DEFAULT_GATE, GATE_KINDS, check_geometry

DRUGS = {
    "aspirin": "CC(=O)Oc1ccccc1C(=O)O",
    "ibuprofen": "CC(C)Cc1ccc(cc1)[C@@H](C)C(=O)O",
    "paracetamol": "CC(=O)Nc1ccc(O)cc1",
    "caffeine": "Cn1cnc2c1c(=O)n(C)c(=O)n2C",
    "diclofenac": "OC(=O)Cc1ccccc1Nc1c(Cl)cccc1Cl",
    "sildenafil": "CCCc1nn(C)c2c1nc([nH]c2=O)-c1cc(ccc1OCC)S(=O)(=O)N1CCN(C)CC1",
    "imatinib": "Cc1ccc(NC(=O)c2ccc(CN3CCN(C)CC3)cc2)cc1Nc1nccc(-c2cccnc2)n1",
    "penicillin G": "CC1(C)S[C@@H]2[C@H](NC(=O)Cc3ccccc3)C(=O)N2[C@H]1C(=O)O",
    "levothyroxine": "N[C@@H](Cc1cc(I)c(Oc2cc(I)c(O)c(I)c2)c(I)c1)C(=O)O",
    "atorvastatin": "CC(C)c1c(C(=O)Nc2ccccc2)c(-c2ccccc2)c(-c2ccc(F)cc2)n1CC[C@@H](O)C[C@@H](O)CC(=O)O",
}


def _embed(smiles: str, seed: int = 0, mmff: bool = True) -> Chem.Mol:
    mol = Chem.AddHs(Chem.MolFromSmiles(smiles))
    assert AllChem.EmbedMolecule(mol, randomSeed=seed) == 0
    if mmff:
        AllChem.MMFFOptimizeMolecule(mol, maxIters=2000)
    return mol


def _set_positions(mol: Chem.Mol, pos: np.ndarray) -> Chem.Mol:
    out = Chem.Mol(mol)
    out.GetConformer().SetPositions(np.asarray(pos, dtype=np.float64))
    return out


def _side(mol: Chem.Mol, anchor: int, moving: int) -> list[int]:
    """Atoms on ``moving``'s side of the bond anchor-moving (the bond must not be in a ring)."""
    seen, stack = {moving}, [moving]
    while stack:
        a = stack.pop()
        for nb in mol.GetAtomWithIdx(a).GetNeighbors():
            j = nb.GetIdx()
            if j != anchor and j not in seen:
                seen.add(j)
                stack.append(j)
    return sorted(seen)


def _stretch(mol: Chem.Mol, anchor: int, moving: int, length: float) -> Chem.Mol:
    """Move ``moving`` and everything behind it rigidly along the bond to ``length`` Å."""
    pos = mol.GetConformer().GetPositions()
    v = pos[moving] - pos[anchor]
    shift = v / np.linalg.norm(v) * (length - np.linalg.norm(v))
    pos[_side(mol, anchor, moving)] += shift
    return _set_positions(mol, pos)


def test_table_is_fitted_and_documented():
    table = DEFAULT_GATE.table
    assert table["meta"]["built_by"] == "scripts/fit_geometry_gate.py"
    for key, lo, hi in (("C-C:1", 1.50, 1.56), ("C-H:1", 1.07, 1.11), ("C-C:ar", 1.37, 1.41),
                        ("C-I:1", 2.05, 2.16), ("C-O:2", 1.19, 1.24)):
        assert lo <= table["bond"][key]["center"] <= hi, key
        assert 0.05 <= table["bond"][key]["tol"] <= 0.4, key
    assert 105 <= table["angle"]["C:SP3:0"]["center"] <= 112
    assert 0.3 <= table["clash"]["XX"] <= 0.8
    for set_name in ("qm9", "ccd"):  # the training pass rates the fit reports
        assert table["meta"]["train_pass"][set_name]["pass_rate"] >= 0.995


@pytest.mark.parametrize("name", list(DRUGS))
def test_force_field_conformers_of_drugs_pass(name):
    for seed in (0, 1):
        mol = _embed(DRUGS[name], seed)
        report = check_geometry(mol)
        assert report.ok, (name, seed, report.reasons)
        assert report.reasons == [] and report.failed == set()


def test_etkdg_without_relaxation_passes():
    for smi in ("CCO", "C[C@H](N)C(=O)O", "c1ccc2[nH]ccc2c1", "O=C1CCCN1"):
        assert check_geometry(_embed(smi, mmff=False)).ok, smi


def test_bond_stretched_to_3_angstrom_fails_naming_the_atoms():
    mol = _embed(DRUGS["aspirin"])
    # acetyl CH3 (atom 0) - C(=O) (atom 1): move the methyl group out to 3.0 Å
    broken = _stretch(mol, anchor=1, moving=0, length=3.0)
    report = check_geometry(broken)
    assert not report.ok and "bond" in report.failed
    assert any(r.startswith("bond C1-C2 3.00 Å (expected 1.5") for r in report.reasons), report.reasons
    assert report.counts["bond"] == 1


def test_carbon_iodine_at_1_44_angstrom_fails():
    mol = _embed("Ic1ccccc1")
    iodine = next(a.GetIdx() for a in mol.GetAtoms() if a.GetSymbol() == "I")
    carbon = mol.GetAtomWithIdx(iodine).GetNeighbors()[0].GetIdx()
    assert check_geometry(mol).ok
    report = check_geometry(_stretch(mol, carbon, iodine, 1.44))
    assert report.failed == {"bond"} or "bond" in report.failed
    lines = [r for r in report.reasons if r.startswith("bond")]
    assert len(lines) == 1
    assert f"I{iodine + 1}" in lines[0] and "1.44 Å (expected 2.1" in lines[0], lines


def test_two_atoms_half_an_angstrom_apart_clash():
    mol = _embed("CCCC.CCCC")  # two butanes: only a clash can fail
    pos = mol.GetConformer().GetPositions()
    frags = Chem.GetMolFrags(mol)
    a = next(i for i in frags[0] if mol.GetAtomWithIdx(i).GetSymbol() == "C")
    b = next(i for i in frags[1] if mol.GetAtomWithIdx(i).GetSymbol() == "C")
    # translate the second molecule so that carbon b sits 0.5 Å from carbon a
    target = pos[a] + np.array([0.5, 0.0, 0.0])
    pos[list(frags[1])] += target - pos[b]
    report = check_geometry(_set_positions(mol, pos))
    assert report.failed == {"clash"}
    assert f"clash C{a + 1}···C{b + 1} 0.50 Å" in report.reasons[0], report.reasons
    # and apart they pass
    pos[list(frags[1])] += np.array([0.0, 0.0, 8.0])
    assert check_geometry(_set_positions(mol, pos)).ok


def test_benzene_with_one_atom_lifted_out_of_plane_fails_planarity():
    mol = _embed("c1ccccc1")
    pos = mol.GetConformer().GetPositions()
    ring = pos[:6]
    normal = np.linalg.svd(ring - ring.mean(0))[2][2]
    h0 = mol.GetAtomWithIdx(0).GetNeighbors()
    lift = [0] + [x.GetIdx() for x in h0 if x.GetAtomicNum() == 1]  # the carbon and its H
    pos[lift] += 0.5 * normal
    report = check_geometry(_set_positions(mol, pos))
    assert "planarity" in report.failed
    assert any(r.startswith("aromatic C1 C2 C3 C4 C5 C6 out of plane") for r in report.reasons)
    pos[lift] -= 0.45 * normal  # 0.05 Å: within tolerance
    assert check_geometry(_set_positions(mol, pos)).ok


def test_twisted_amide_fails_planarity():
    mol = _embed("CC(=O)NC")  # N-methylacetamide
    patt = Chem.MolFromSmarts("[CH3]C(=O)N[CH3]")
    c_me, c, _, n, n_me = mol.GetSubstructMatch(patt)
    conf = mol.GetConformer()
    from rdkit.Chem import rdMolTransforms

    rdMolTransforms.SetDihedralDeg(conf, c_me, c, n, n_me, 90.0)  # twisted by 90°
    report = check_geometry(mol)
    assert "planarity" in report.failed
    assert any(r.startswith("amide") for r in report.reasons)


def test_bent_angle_fails():
    mol = _embed("O")  # water: set H-O-H to 170°
    h = np.radians(85.0)
    pos = np.array([[0.0, 0.0, 0.0], [0.96 * np.sin(h), 0.96 * np.cos(h), 0.0],
                    [-0.96 * np.sin(h), 0.96 * np.cos(h), 0.0]])
    report = check_geometry(_set_positions(mol, pos))
    assert report.failed == {"angle"}
    assert report.reasons[0].startswith("angle H2-O1-H3 170.0°")


def test_bond_through_a_ring_is_ring_piercing():
    mol = _embed("C1CCCCC1.C#C")  # cyclohexane (atoms 0-5) and acetylene (6, 7)
    pos = mol.GetConformer().GetPositions()
    centre = pos[:6].mean(0)
    normal = np.linalg.svd(pos[:6] - centre)[2][2]
    # skewer the acetylene through the ring centre along the ring normal
    for carbon, side in ((6, 1.0), (7, -1.0)):
        pos[carbon] = centre + side * 0.6 * normal
        h = next(n.GetIdx() for n in mol.GetAtomWithIdx(carbon).GetNeighbors()
                 if n.GetAtomicNum() == 1)
        pos[h] = centre + side * 1.66 * normal
    report = check_geometry(_set_positions(mol, pos))
    assert "ring_piercing" in report.failed
    assert "bond C7-C8 pierces ring C1-C2-C3-C4-C5-C6" in report.reasons, report.reasons
    # beside the ring instead of through it: no piercing
    out = (pos[0] - centre) / np.linalg.norm(pos[0] - centre)  # in the ring's mean plane
    pos[[6, 7, mol.GetNumAtoms() - 2, mol.GetNumAtoms() - 1]] += 6.0 * out
    assert "ring_piercing" not in check_geometry(_set_positions(mol, pos)).failed


def test_non_finite_coordinates_fail():
    mol = _embed("CCO")
    pos = mol.GetConformer().GetPositions()
    pos[1] = np.nan
    report = check_geometry(_set_positions(mol, pos))
    assert not report.ok and "bond" in report.failed


def test_report_fields_and_summary():
    mol = _embed("CCCCCC")
    pos = mol.GetConformer().GetPositions() * 3.0  # every bond three times too long
    report = check_geometry(_set_positions(mol, pos))
    assert not report.ok and report.failed <= set(GATE_KINDS) and "bond" in report.failed
    assert report.counts["bond"] == mol.GetNumBonds()
    assert report.summary(2).endswith(f"and {len(report.reasons) - 2} more")
    with pytest.raises(ValueError, match="no conformer"):
        check_geometry(Chem.MolFromSmiles("CC"))


def test_mmff_kind_catches_a_bond_of_the_wrong_environment():
    # paracetamol's amide C-N (MMFF ~1.37 Å) stretched to an amine's 1.62 Å: inside the
    # element-pair table's C-N single tolerance, 0.25 Å off its own MMFF94 minimum
    mol = _embed(DRUGS["paracetamol"])
    amide = mol.GetSubstructMatch(Chem.MolFromSmarts("C(=O)N"))
    c, n = amide[0], amide[2]
    stretched = _stretch(mol, c, n, 1.62)
    assert G.GeometryGate(mmff=False).check(stretched).ok
    report = check_geometry(stretched)
    assert not report.ok and report.failed == {"mmff"}
    assert any(f"C{c + 1}-N{n + 1}" in r and "MMFF94" in r for r in report.reasons)
    assert check_geometry(mol).ok  # the minimised original passes


def test_mmff_kind_is_skipped_when_mmff_has_no_parameters():
    # MMFF94 covers H C N O F Si P S Cl Br I (and ions), not selenium
    mol = Chem.AddHs(Chem.MolFromSmiles("C[Se]C"))
    assert AllChem.EmbedMolecule(mol, randomSeed=0) == 0
    plan = DEFAULT_GATE.plan(mol)
    assert plan.mmff is not None and not plan.mmff.parametrised
    assert "mmff" not in plan.check(mol.GetConformer().GetPositions()).failed



# --------------------------------------------------------------- held-out real data


def _pass_rate(mols: list[Chem.Mol]) -> tuple[float, list[str]]:
    fails = []
    for m in mols:
        r = check_geometry(m)
        if not r.ok:
            fails.append(f"{m.GetProp('_Name') if m.HasProp('_Name') else ''} {r.summary(1)}")
    return 1.0 - len(fails) / len(mols), fails


def test_pass_rate_on_qm9_test_dft_geometries():
    from molediff.domains.chem.qm9 import load_qm9
    from molediff.domains.chem.split import load_split

    # the first 6,000 QM9 molecules (processed without the full cache if it is absent),
    # of which the ~10 % in the test split: held out from the fit
    data = load_qm9(limit=6000)
    pick = data.positions_of(load_split()["test"])[:500]
    assert len(pick) >= 450
    mols = [data.mol(int(k)) for k in pick]
    rate, fails = _pass_rate(mols)
    assert rate >= 0.99, fails


def test_pass_rate_on_ccd_test_ideal_geometries():
    from molediff.domains.chem.ccd import convert_components, load_ccd_split

    ids = load_ccd_split()["test"][::20]  # 202 ligands spread over the sorted test IDs
    with rdBase.BlockLogs():
        mols = convert_components(ids)
    rate, fails = _pass_rate(mols)
    assert len(mols) >= 200 and rate >= 0.99, fails


def test_topology_terms():
    mol = Chem.AddHs(Chem.MolFromSmiles("O=C1CC1c1ccccc1C(=O)NC"))
    t = G.topology(mol)
    assert len(t.bonds) == mol.GetNumBonds() and len(t.bond_keys) == len(t.bonds)
    assert "C-O:2" in t.bond_keys and "C-C:ar" in t.bond_keys and "C-H:1" in t.bond_keys
    assert {k.split(":")[2] for k in t.angle_keys} >= {"3", "x3", "6+", "0"}
    assert sorted(t.group_kind) == ["amide", "aromatic"]
    # pairs are >= 3 bonds apart: no bonded pair among them
    bonded = {tuple(b) for b in t.bonds.tolist()}
    assert not bonded & {tuple(p) for p in t.pairs.tolist()}
