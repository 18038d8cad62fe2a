"""PNG grids and .npz files reload with the right shapes and pixels."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from molediff.domains.images.data import to_uint8
from molediff.domains.images.io import export_images, grid_layout, read_grid
from molediff.utils.errors import InputError


def test_export_png_grid_one_row_per_class(mnist, tmp_path):
    images = mnist.images.images["val"][:40]
    labels = mnist.images.labels["val"][:40]
    paths = export_images(images, labels, tmp_path, 10, mnist.class_names)
    assert [p.name for p in paths] == ["samples.png", "samples.npz"]
    rows = grid_layout(labels.numpy(), 10)
    cols = max(len(r) for r in rows)
    with Image.open(tmp_path / "samples.png") as img:
        assert img.mode == "L"
        assert img.size == (2 * (cols * 29 + 1), 2 * (len(rows) * 29 + 1))
    back = read_grid(tmp_path / "samples.png", (28, 28), [len(r) for r in rows])
    pix = to_uint8(images)[:, 0]
    for r, got in zip(rows, back, strict=True):
        assert np.array_equal(got, pix[r])
    z = np.load(tmp_path / "samples.npz")
    assert z["images"].shape == (40, 28, 28) and z["images"].dtype == np.uint8
    assert np.array_equal(z["labels"], labels.numpy()) and len(z["class_names"]) == 10


def test_bad_export_input(tmp_path):
    with pytest.raises(InputError, match=r"\[N, C, H, W\]"):
        export_images(torch.zeros(3, 28, 28), torch.zeros(3), tmp_path, 10, ("a",) * 10)
