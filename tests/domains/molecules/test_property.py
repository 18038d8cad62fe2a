"""The QM9 property regressor used to score property-guided generation."""

from __future__ import annotations

import importlib.util

import numpy as np
import pytest
import torch

from molediff.domains.molecules.property_model import (
    PropertyRegressor,
    featurize,
    train_regressor,
)


def _mol(seed: int = 0, n: int = 9):
    rng = np.random.default_rng(seed)
    z = rng.choice([1, 6, 7, 8, 9], size=n)
    return z, rng.normal(size=(n, 3)) * 1.5


def test_descriptor_is_invariant():
    z, pos = _mol()
    q, _ = np.linalg.qr(np.random.default_rng(1).normal(size=(3, 3)))  # rotation or reflection
    perm = np.random.default_rng(2).permutation(len(z))
    f0 = featurize([(z, pos)])
    f1 = featurize([(z[perm], pos[perm] @ q.T + np.array([3.0, -1.0, 2.0]))])
    torch.testing.assert_close(f0, f1, rtol=1e-4, atol=1e-4)
    counts = f0[0, :5].numpy()
    assert counts.tolist() == [float((z == e).sum()) for e in (1, 6, 7, 8, 9)]
    # chunking does not change the result
    many = [_mol(s, 3 + s % 7) for s in range(11)]
    torch.testing.assert_close(featurize(many, chunk=4), featurize(many, chunk=512))


def test_unsupported_element():
    with pytest.raises(ValueError, match="unsupported elements"):
        featurize([(np.array([6, 16]), np.zeros((2, 3)))])


@pytest.mark.skipif(importlib.util.find_spec("qm9pack") is None, reason="needs qm9pack")
def test_regressor_learns_alpha(tmp_path):
    from molediff.domains.chem.qm9 import load_qm9

    data = load_qm9(limit=1500)
    pos = np.arange(len(data))
    torch.manual_seed(0)
    reg, info = train_regressor(["alpha"], train=data.subset(pos[pos % 10 != 9]),
                                val=data.subset(pos[pos % 10 == 9]), epochs=8)
    # far better than predicting the training mean
    assert info["val_mae"]["alpha"] < 0.4 * info["val_mae_mean_predictor"]["alpha"]
    path = reg.save(tmp_path / "reg.pt", info)
    back, info2 = PropertyRegressor.load(path)
    val = data.subset(pos[pos % 10 == 9])
    mols = [(val.z[val.atom_ptr[k]:val.atom_ptr[k + 1]], val.pos[val.atom_ptr[k]:val.atom_ptr[k + 1]])
            for k in range(len(val))]
    np.testing.assert_allclose(back.predict(mols), reg.predict(mols), rtol=1e-5)
    mae = np.abs(back.predict(mols)[:, 0] - val.props[:, 1]).mean()
    assert mae == pytest.approx(info2["val_mae"]["alpha"], rel=1e-3)
