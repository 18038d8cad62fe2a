"""CCD ligands: conversion, every filter rule on a known component, the shipped scaffold split."""

from __future__ import annotations

import json

import numpy as np
import pytest
from rdkit import Chem
from rdkit.Chem import rdCIPLabeler

from molediff.domains.chem import ccd
from molediff.domains.chem.ccd import (
    FILTER_RULES,
    SPLIT_NAMES,
    CCDFilterError,
    CCDLigands,
    ccd_stereo_labels,
    component_to_mol,
    filter_components,
    inchikey,
    load_ccd_split,
    scaffold_groups,
    scaffold_key,
    scaffold_split,
)

IMATINIB = "Cc1ccc(NC(=O)c2ccc(CN3CCN(C)CC3)cc2)cc1Nc1nccc(-c2cccnc2)n1"
ESTRADIOL = "C[C@]12CC[C@H]3[C@H]([C@@H]1CC[C@@H]2O)CCC4=C3C=CC(=C4)O"  # PubChem 5757
S_IBUPROFEN = "CC(C)CC1=CC=C(C=C1)[C@H](C)C(=O)O"  # dexibuprofen, PubChem 39912


def _canonical(smiles_or_mol: str | Chem.Mol) -> str:
    mol = Chem.MolFromSmiles(smiles_or_mol) if isinstance(smiles_or_mol, str) else \
        Chem.RemoveHs(smiles_or_mol)
    return Chem.MolToSmiles(mol)


@pytest.fixture(scope="module")
def split() -> ccd.CCDSplit:
    return load_ccd_split()


def test_imatinib_conversion_keeps_ccd_atoms_bonds_and_ideal_coordinates() -> None:
    from biotite.structure.info import residue

    mol = component_to_mol("STI")
    ref = residue("STI")  # biotite's own reading (ideal coordinates, bonds)
    assert mol.GetProp("_Name") == "STI"
    assert mol.GetNumHeavyAtoms() == 37 and mol.GetNumAtoms() == ref.array_length() == 68
    assert [a.GetSymbol().upper() for a in mol.GetAtoms()] == ref.element.tolist()
    np.testing.assert_allclose(mol.GetConformer().GetPositions(), ref.coord, atol=1e-6)
    assert mol.GetConformer().Is3D()
    assert mol.GetNumBonds() == ref.bonds.get_bond_count()
    assert all(a.GetNoImplicit() and a.GetNumImplicitHs() == 0 for a in mol.GetAtoms())
    assert _canonical(mol) == _canonical(IMATINIB)
    assert sum(a.GetIsAromatic() for a in mol.GetAtoms()) == 24  # four aromatic 6-rings


def test_experimental_model_coordinates_are_the_crystal_conformation() -> None:
    from biotite.structure.info import get_from_ccd

    mol = component_to_mol("STI")
    xyz = ccd.component_model_coords("STI")
    rows = get_from_ccd("chem_comp_atom", "STI")
    assert xyz.shape == (68, 3)
    np.testing.assert_allclose(xyz[:, 0], rows["model_Cartn_x"].as_array(float))
    exp = ccd.with_model_conformer(mol, "STI")
    assert exp is not None and exp.GetNumAtoms() == 37  # heavy atoms only
    # the same molecule in another conformation: bonds agree, the shape does not
    heavy = [a.GetIdx() for a in mol.GetAtoms() if a.GetAtomicNum() > 1]
    ideal = mol.GetConformer().GetPositions()[heavy]
    model = exp.GetConformer().GetPositions()
    for b in exp.GetBonds():
        i, j = b.GetBeginAtomIdx(), b.GetEndAtomIdx()
        assert abs(np.linalg.norm(model[i] - model[j]) - np.linalg.norm(ideal[i] - ideal[j])) < 0.15
    from molediff.domains.conformers.metrics import best_rmsd

    assert best_rmsd(exp, mol) > 0.5


def test_stereo_from_ideal_geometry_matches_smiles_and_ccd_labels() -> None:
    assert _canonical(component_to_mol("IBP")) == _canonical(S_IBUPROFEN)
    assert _canonical(component_to_mol("EST")) == _canonical(ESTRADIOL)
    # testosterone (6 centres), cholic acid (11), S-adenosylmethionine (sulfonium centre)
    for comp_id in ("TES", "CHD", "SAM"):
        mol = component_to_mol(comp_id)
        rdCIPLabeler.AssignCIPLabels(mol)
        want = ccd_stereo_labels(comp_id)
        assert len(want) >= 6
        got = {i: mol.GetAtomWithIdx(i).GetProp("_CIPCode") for i in want}
        assert got == want, comp_id
    # known CCD slip: estradiol is 8R,9S,13S,14S,17S, the CCD flags C8 as S
    est = component_to_mol("EST")
    rdCIPLabeler.AssignCIPLabels(est)
    assert ccd_stereo_labels("EST")[8] == "S"
    assert est.GetAtomWithIdx(8).GetProp("_CIPCode") == "R"


@pytest.mark.parametrize(
    ("comp_id", "rule"),
    [
        ("045", "obsolete"),
        ("ALA", "polymer_type"),  # L-peptide linking
        ("DA", "polymer_type"),  # DNA linking
        ("NAG", "polymer_type"),  # saccharide
        ("03R", "missing_ideal"),
        ("UNL", "no_atoms"),
        ("HEM", "elements"),  # iron
        ("HOH", "heavy_atoms"),
        ("GOL", "heavy_atoms"),  # 6 heavy atoms
        ("LG8", "degenerate_coords"),
        ("6XP", "rdkit"),  # tetravalent neutral N
        ("MTN", "radicals"),  # MTSL nitroxide spin label
    ],
)
def test_each_rule_removes_a_known_component(comp_id: str, rule: str) -> None:
    with pytest.raises(CCDFilterError) as info:
        component_to_mol(comp_id)
    assert info.value.rule == rule and info.value.comp_id == comp_id


def test_filter_counts_rules_and_keeps_first_of_duplicates() -> None:
    # 53L, 53M, 54Q: tautomers with one standard InChIKey; the first in CCD order stays
    ids = ["53L", "53M", "54Q", "STI", "HEM", "ALA", "GOL"]
    res = filter_components(ids, keep_mols=True)
    assert res.ids == ["53L", "STI"]
    assert res.removed_ids["duplicate"] == ["53M", "54Q"]
    assert res.removed == {r: {"duplicate": 2, "elements": 1, "polymer_type": 1,
                               "heavy_atoms": 1}.get(r, 0) for r in FILTER_RULES}
    assert res.num_input == len(ids) and res.heavy_atoms == [m.GetNumHeavyAtoms() for m in res.mols]
    assert res.inchikeys[0] == inchikey(component_to_mol("53M", check=False))
    with pytest.raises(KeyError):
        component_to_mol("NOT_A_CCD_ID")


def test_scaffold_key_groups_stereoisomers_and_substituents() -> None:
    a = Chem.AddHs(Chem.MolFromSmiles("C[C@H](N)c1ccccc1"))
    b = Chem.AddHs(Chem.MolFromSmiles("C[C@@H](N)c1ccc(Cl)cc1"))
    assert scaffold_key(a) == scaffold_key(b) == "c1ccccc1"
    r = Chem.AddHs(Chem.MolFromSmiles("C[C@H](O)CC(=O)O"))
    s = Chem.AddHs(Chem.MolFromSmiles("C[C@@H](O)CC(=O)O"))
    assert scaffold_key(r) == scaffold_key(s) == "acyclic:" + inchikey(r)[:14]
    assert inchikey(r) != inchikey(s)


def test_scaffold_split_is_seeded_keeps_groups_and_sends_big_groups_to_train() -> None:
    ids = [f"X{i:03d}" for i in range(200)]
    groups = ["big"] * 40 + [f"g{i // 2}" for i in range(160)]  # one big group, pairs
    a = scaffold_split(ids, groups, {"valid": 0.1, "test": 0.1}, seed=1)
    b = scaffold_split(ids, groups, {"valid": 0.1, "test": 0.1}, seed=1)
    c = scaffold_split(ids, groups, {"valid": 0.1, "test": 0.1}, seed=2)
    assert a == b and a["test"] != c["test"]
    assert len(a["test"]) == 20 and len(a["valid"]) == 20
    assert set(ids[:40]) <= set(a["train"])
    where = {i: name for name in SPLIT_NAMES for i in a[name]}
    assert all(where[ids[k]] == where[ids[k + 1]] for k in range(40, 200, 2))


def test_shipped_split_is_a_disjoint_deterministic_scaffold_partition(split: ccd.CCDSplit) -> None:
    parts = split.as_dict()
    sizes = {k: len(v) for k, v in parts.items()}
    assert sizes == json.loads(split.meta["sizes"])
    assert sizes == {"train": 32_184, "valid": 4_022, "test": 4_022}
    everything = [i for v in parts.values() for i in v]
    assert len(everything) == len(set(everything)) == len(split.ids) == 40_228
    assert set(everything) == set(split.ids.tolist())
    assert list(split.ids) == sorted(split.ids)  # CCD order is sorted order
    # no scaffold group in two parts
    parts_of_group: dict[int, set[int]] = {}
    for g, p in zip(split.group.tolist(), split.part.tolist(), strict=True):
        parts_of_group.setdefault(g, set()).add(p)
    assert all(len(p) == 1 for p in parts_of_group.values())
    # deterministic: the split function reproduces the shipped parts from the groups
    again = scaffold_split(split.ids.tolist(), split.group.tolist(),
                           json.loads(split.meta["fractions"]), int(split.meta["seed"]))
    assert again == parts
    removed = json.loads(split.meta["filter_removed"])
    assert list(removed) == list(FILTER_RULES)
    assert sum(removed.values()) + len(split.ids) == int(split.meta["num_components"])
    assert split.meta["source"] == f"biotite=={ccd.biotite_version()} bundled CCD (components.bcif)"
    assert split.meta["ccd_snapshot"] == ccd.ccd_snapshot_date()


def test_shipped_groups_and_sizes_match_recomputed_molecules(split: ccd.CCDSplit) -> None:
    """A sample of ten multi-member groups, two members each, rebuilt from the CCD."""
    rng = np.random.default_rng(0)
    groups, counts = np.unique(split.group, return_counts=True)
    chosen = rng.choice(groups[counts >= 2], size=10, replace=False)
    keys: dict[int, set[str]] = {}
    inchikeys = []
    for g in chosen.tolist():
        members = np.flatnonzero(split.group == g)[:2]
        for k in members.tolist():
            mol = component_to_mol(str(split.ids[k]))  # still passes every rule
            assert mol.GetNumHeavyAtoms() == split.heavy_atoms[k]
            keys.setdefault(g, set()).add(scaffold_key(mol))
            inchikeys.append(inchikey(mol))
    assert all(len(v) == 1 for v in keys.values())  # same group -> same scaffold
    assert len({next(iter(v)) for v in keys.values()}) == 10  # different groups differ
    assert len(set(inchikeys)) == len(inchikeys)  # deduplicated
    assert np.array_equal(scaffold_groups(["b", "a", "b", "c"]), [1, 0, 1, 2])


def test_ligand_dataset_limit_converts_without_cache(split: ccd.CCDSplit, tmp_path,
                                                     monkeypatch) -> None:
    monkeypatch.setenv("MOLEDIFF_CACHE", str(tmp_path))
    ds = CCDLigands("test", limit=4)
    assert ds.ids == split["test"][:4] and len(ds) == 4
    mols = list(ds)
    assert [m.GetProp("_Name") for m in mols] == ds.ids
    assert all(m.GetNumConformers() == 1 for m in mols)
    assert not list(tmp_path.iterdir())  # nothing cached with a limit


def test_ligand_cache_roundtrip_is_used(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("MOLEDIFF_CACHE", str(tmp_path))
    ids = load_ccd_split()["valid"][:2]
    mols = ccd.convert_components(ids)
    moved = Chem.Mol(mols[0])
    pos = moved.GetConformer().GetPositions() + 5.0  # marker: shifted coordinates
    moved.GetConformer().SetPositions(pos)
    ccd._save_mols(ccd.cache_path(), ids, [moved, mols[1]])
    ds = CCDLigands("valid", limit=2)
    np.testing.assert_allclose(ds.mol(0).GetConformer().GetPositions(), pos)
    assert Chem.MolToSmiles(ds.mol(1)) == Chem.MolToSmiles(mols[1])
    assert ds.mol(0).GetAtomWithIdx(0).GetNoImplicit()
