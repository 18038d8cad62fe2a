"""The shipped image subsets: real, stratified, scaled, and bad files are refused clearly."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from molediff.domains.images import data as image_data
from molediff.utils.errors import InputError


@pytest.mark.parametrize(("name", "sizes"), [("mnist", (10000, 1000, 1000)),
                                             ("fashion_mnist", (5000, 1000, 1000))])
def test_shipped_subsets(name, sizes):
    if not image_data.default_path(name).is_file():
        pytest.skip(f"{name} subset not built")
    s = image_data.load(name)
    assert s.shape == (1, 28, 28) and s.num_classes == 10
    for part, n in zip(image_data.PARTS, sizes, strict=True):
        x, y = s.images[part], s.labels[part]
        assert x.shape == (n, 1, 28, 28) and y.shape == (n,)
        assert float(x.min()) == -1.0 and float(x.max()) == 1.0
        assert torch.equal(torch.bincount(y, minlength=10), torch.full((10,), n // 10))
    # the parts are different images (no test image leaks into training)
    train = {bytes(image_data.to_uint8(im)) for im in s.images["train"][:2000]}
    assert not any(bytes(image_data.to_uint8(im)) in train for im in s.images["test"])


def test_uint8_round_trip():
    pix = np.arange(256, dtype=np.uint8).reshape(1, 16, 16)
    assert np.array_equal(image_data.to_uint8(image_data.to_unit(pix)), pix)


def test_bad_files_and_names(tmp_path):
    with pytest.raises(InputError, match="unknown image data set"):
        image_data.default_path("cifar")
    with pytest.raises(InputError, match="not found"):
        image_data.load("mnist", str(tmp_path / "missing.npz"))
    bad = tmp_path / "bad.npz"
    np.savez(bad, train_images=np.zeros((2, 28, 28), np.float32), train_labels=np.zeros(2),
             val_images=np.zeros((2, 28, 28), np.uint8), val_labels=np.zeros(2),
             test_images=np.zeros((2, 28, 28), np.uint8), test_labels=np.zeros(2))
    with pytest.raises(InputError, match="uint8"):
        image_data.load("mnist", str(bad))
    partial = tmp_path / "partial.npz"
    np.savez(partial, train_images=np.zeros((2, 28, 28), np.uint8))
    with pytest.raises(InputError, match="lacks"):
        image_data.load("mnist", str(partial))
