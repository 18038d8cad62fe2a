from __future__ import annotations

import pytest
import torch
from torch.utils.data import DataLoader

from molediff.domains.chem.qm9 import load_qm9
from molediff.domains.chem.split import load_split
from molediff.domains.conformers.data import (
    QM9ConformerDataset,
    batch_to_diffusion,
    collate,
    smiles_to_batch,
)


@pytest.fixture(scope="module")
def small():
    return load_qm9(limit=200, use_cache=False)


def test_split_selection_and_centred_items(small):
    train = QM9ConformerDataset("train", data=small)
    test = QM9ConformerDataset("test", data=small)
    split = load_split()
    assert len(train) + len(test) + len(QM9ConformerDataset("valid", data=small)) == 200
    assert set(train.qm9.index.tolist()) <= set(split["train"].tolist())
    assert not set(train.qm9.index.tolist()) & set(test.qm9.index.tolist())
    item = train[5]
    assert item.source == f"qm9/{int(train.qm9.index[5])}"
    torch.testing.assert_close(item.pos.mean(0), torch.zeros(3), atol=1e-5, rtol=0)
    # centring is a translation: interatomic distances equal the DFT ones
    mol = train.mol(5)
    ref = torch.tensor(mol.GetConformer().GetPositions(), dtype=torch.float32)
    torch.testing.assert_close(torch.cdist(item.pos, item.pos), torch.cdist(ref, ref),
                               atol=1e-4, rtol=0)
    with pytest.raises(ValueError, match="split"):
        QM9ConformerDataset("training", data=small)


def test_batches_feed_the_diffusion_core(small):
    pytest.importorskip("molediff.core.space")
    ds = QM9ConformerDataset(None, data=small, limit=40, precompute=True)
    loader = DataLoader(ds, batch_size=8, collate_fn=collate, shuffle=False)
    batch = next(iter(loader))
    x0, cond, space = batch_to_diffusion(batch)
    assert x0.shape == (batch.num_nodes, 3) and cond.num_graphs == 8
    assert space.num_samples == 8
    torch.testing.assert_close(space.project(x0), x0, atol=1e-5, rtol=0)  # already centred


def test_smiles_to_batch_for_inference():
    batch = smiles_to_batch(["CCO", "c1ccccc1"], num_samples=3)
    assert batch.num_graphs == 6
    assert batch.num_nodes == 3 * 9 + 3 * 12
    assert getattr(batch, "pos", None) is None
    with pytest.raises(ValueError, match="invalid SMILES"):
        smiles_to_batch(["CCO", "C1C"])
    with pytest.raises(ValueError, match="no positions"):
        batch_to_diffusion(batch)


def test_ccd_items_are_centred_drug_like_graphs():
    from molediff.domains.conformers.data import CCDConformerDataset

    ccd = CCDConformerDataset("valid", limit=4)
    assert len(ccd) == 4
    for k in range(len(ccd)):
        item, mol = ccd[k], ccd.mol(k)
        assert item.num_nodes == mol.GetNumAtoms()  # explicit hydrogens kept
        assert 8 <= mol.GetNumHeavyAtoms() <= 50
        assert item.source == f"ccd/{ccd.ligands.ids[k]}"
        assert torch.allclose(item.pos.mean(0), torch.zeros(3), atol=1e-5)
        # centring moves the ideal geometry, it does not deform it
        ref = torch.tensor(mol.GetConformer().GetPositions(), dtype=torch.float32)
        exact = "donot_use_mm_for_euclid_dist"
        assert torch.allclose(torch.cdist(item.pos, item.pos, compute_mode=exact),
                              torch.cdist(ref, ref, compute_mode=exact), atol=1e-4)


def test_molecule_mix_repeats_a_source_and_routes_mol():
    from molediff.domains.conformers.data import MoleculeMix

    class Named(torch.utils.data.Dataset):
        def __init__(self, tag: str, n: int) -> None:
            self.tag, self.n = tag, n

        def __len__(self) -> int:
            return self.n

        def __getitem__(self, k: int) -> str:
            return f"{self.tag}{k}"

        def mol(self, k: int) -> str:
            return f"mol-{self.tag}{k}"

    mix = MoleculeMix([Named("a", 3), Named("b", 2)], [1, 2])
    assert len(mix) == 7
    assert [mix[k] for k in range(7)] == ["a0", "a1", "a2", "b0", "b1", "b0", "b1"]
    assert mix.mol(4) == "mol-b1"
    with pytest.raises(IndexError):
        mix[7]
    with pytest.raises(ValueError, match="repeat"):
        MoleculeMix([Named("a", 3)], [1, 1])
    assert len(MoleculeMix([Named("a", 3), Named("b", 2)], [0, 1])) == 2
