from __future__ import annotations

import pytest
import torch
from rdkit import Chem

from molediff.domains.chem.featurize import (
    ATOM_TYPES,
    EDGE_FEATURE_SLICES,
    NODE_FEATURE_SLICES,
    NUM_EDGE_FEATURES,
    NUM_NODE_FEATURES,
    mol_to_data,
    smiles_to_data,
)


def test_qm9_molecule_to_data(qm9_small):
    mol = qm9_small.mol(42)
    data = mol_to_data(mol)
    n = mol.GetNumAtoms()
    assert data.pos.shape == (n, 3) and data.pos.dtype == torch.float32
    assert data.h.shape == (n, NUM_NODE_FEATURES)
    assert data.z.tolist() == [a.GetAtomicNum() for a in mol.GetAtoms()]
    assert data.edge_index.shape == (2, 2 * mol.GetNumBonds())
    assert data.edge_attr.shape == (2 * mol.GetNumBonds(), NUM_EDGE_FEATURES)
    torch.testing.assert_close(data.pos, torch.tensor(mol.GetConformer().GetPositions()).float())
    # Each one-hot block sums to one per atom / bond.
    for name in ("atom_type", "formal_charge", "hybridization"):
        assert torch.all(data.h[:, NODE_FEATURE_SLICES[name]].sum(1) == 1)
    for name in ("bond_type", "stereo"):
        assert torch.all(data.edge_attr[:, EDGE_FEATURE_SLICES[name]].sum(1) == 1)
    # Both directions of every bond.
    pairs = set(map(tuple, data.edge_index.t().tolist()))
    assert all((j, i) in pairs for i, j in pairs)


def test_smiles_to_data_features_are_chemically_right():
    data = smiles_to_data("c1ccccc1O")
    assert data.pos is None and data.smiles == "c1ccccc1O"
    assert data.num_nodes == 13  # 7 heavy + 6 H
    h = data.h
    at = h[:, NODE_FEATURE_SLICES["atom_type"]].argmax(1)
    assert [ATOM_TYPES[i] for i in at[:7]] == ["C"] * 6 + ["O"]
    assert torch.all(at[7:] == ATOM_TYPES.index("H"))
    assert h[:6, NODE_FEATURE_SLICES["aromatic"]].sum() == 6
    assert h[6:, NODE_FEATURE_SLICES["aromatic"]].sum() == 0
    aromatic_bonds = data.edge_attr[:, EDGE_FEATURE_SLICES["bond_type"]][:, 3].sum()
    assert aromatic_bonds == 12  # 6 ring bonds x 2 directions


def test_chirality_and_double_bond_stereo_features():
    l_ala = smiles_to_data("C[C@H](N)C(=O)O")
    d_ala = smiles_to_data("C[C@@H](N)C(=O)O")
    chi = NODE_FEATURE_SLICES["chirality"]
    # columns: unspecified, CW, CCW, other, R, S
    assert l_ala.h[1, chi][4:].tolist() == [0.0, 1.0]  # L-alanine is S
    assert d_ala.h[1, chi][4:].tolist() == [1.0, 0.0]
    e = smiles_to_data("F/C=C/F").edge_attr[:, EDGE_FEATURE_SLICES["stereo"]]
    z = smiles_to_data("F/C=C\\F").edge_attr[:, EDGE_FEATURE_SLICES["stereo"]]
    assert e[:, 2].sum() == 2 and z[:, 1].sum() == 2  # the C=C bond, both directions


def test_featurisation_of_mol_and_smiles_agree():
    mol = Chem.AddHs(Chem.MolFromSmiles("CC(=O)Nc1ccc(O)cc1"))
    a = mol_to_data(mol)
    b = smiles_to_data("CC(=O)Nc1ccc(O)cc1")
    torch.testing.assert_close(a.h, b.h)
    torch.testing.assert_close(a.edge_attr, b.edge_attr)
    assert torch.equal(a.edge_index, b.edge_index)


@pytest.mark.parametrize(
    ("smiles", "message"),
    [
        ("C1CC(", "invalid SMILES"),
        ("not a smiles", "invalid SMILES"),
        ("C[Si](C)(C)C", "unsupported element 'Si'"),
        ("C" * 70, "more than the limit max_heavy_atoms=64"),
    ],
)
def test_smiles_errors_are_clear(smiles, message):
    with pytest.raises(ValueError, match=message):
        smiles_to_data(smiles)


def test_heavy_atom_limit_is_configurable():
    assert smiles_to_data("CCCC", max_heavy_atoms=4).num_nodes == 14
    with pytest.raises(ValueError, match="max_heavy_atoms=3"):
        smiles_to_data("CCCC", max_heavy_atoms=3)
