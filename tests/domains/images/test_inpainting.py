"""Inpainting requests: masks, image files and their errors, and a real inpainting run of
the bundled MNIST model that keeps the unmasked pixels exactly."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from molediff.domains.images.classifier import CHECKPOINT_DIR
from molediff.domains.images.data import to_uint8
from molediff.domains.images.inpainting import (
    REGIONS,
    inpaint_request,
    read_grey_image,
    region_mask,
)
from molediff.inference import load_model
from molediff.utils.errors import InputError, UsageError

SHAPE = (1, 28, 28)


@pytest.fixture
def digit_png(tmp_path, mnist):
    """A real test digit (label 3) saved as a grey 28 x 28 PNG."""
    i = int(torch.nonzero(mnist.images.labels["test"] == 3)[0])
    path = tmp_path / "digit.png"
    Image.fromarray(to_uint8(mnist.images.images["test"][i, 0])).save(path)
    return path


@pytest.mark.parametrize("name,count", [("top", 14 * 28), ("bottom", 14 * 28), ("left", 28 * 14),
                                        ("right", 28 * 14), ("centre", 14 * 14)])
def test_region_masks_cover_the_named_part(name, count):
    m = region_mask(name, (28, 28))
    assert m.dtype == torch.bool and int(m.sum()) == count
    assert set(REGIONS) == {"top", "bottom", "left", "right", "centre"}


def test_opposite_halves_partition_the_image():
    assert torch.equal(region_mask("top", (28, 28)), ~region_mask("bottom", (28, 28)))
    assert torch.equal(region_mask("left", (27, 27)), ~region_mask("right", (27, 27)))


def test_request_reads_the_pixels_and_the_mask(digit_png):
    req = inpaint_request(digit_png, "bottom", SHAPE)
    pixels = np.asarray(Image.open(digit_png))
    assert req.known.shape == SHAPE and req.redraw.shape == SHAPE
    assert np.array_equal(to_uint8(req.known[0]), pixels)
    known, keep = req.batch(5)
    assert known.shape == (5, *SHAPE) and torch.equal(keep[3], ~req.redraw)


def test_mask_image_redraws_its_non_zero_pixels(tmp_path, digit_png):
    mask = np.zeros((28, 28), np.uint8)
    mask[5:9, 10:20] = 255
    Image.fromarray(mask).save(tmp_path / "mask.png")
    req = inpaint_request(digit_png, str(tmp_path / "mask.png"), SHAPE)
    assert int(req.redraw.sum()) == 40 and bool(req.redraw[0, 5, 10])


def test_bad_files_get_one_clear_message(tmp_path, digit_png):
    Image.new("RGB", (28, 28)).save(tmp_path / "rgb.png")
    Image.new("L", (32, 28)).save(tmp_path / "wide.png")
    (tmp_path / "text.png").write_text("not an image")
    with pytest.raises(InputError, match="3 channels"):
        read_grey_image(tmp_path / "rgb.png", (28, 28))
    with pytest.raises(InputError, match="32x28 pixels; the model draws 28x28"):
        read_grey_image(tmp_path / "wide.png", (28, 28))
    with pytest.raises(InputError, match="not a readable image"):
        read_grey_image(tmp_path / "text.png", (28, 28))
    with pytest.raises(InputError, match="not found"):
        read_grey_image(tmp_path / "missing.png", (28, 28))
    with pytest.raises(UsageError, match="unknown inpainting region 'middle'"):
        inpaint_request(digit_png, "middle", SHAPE)
    with pytest.raises(UsageError, match="needs a mask"):
        inpaint_request(digit_png, None, SHAPE)
    Image.new("L", (28, 28)).save(tmp_path / "empty_mask.png")
    with pytest.raises(InputError, match="selects no pixel"):
        inpaint_request(digit_png, str(tmp_path / "empty_mask.png"), SHAPE)
    Image.new("L", (28, 28), 255).save(tmp_path / "full_mask.png")
    with pytest.raises(InputError, match="whole image"):
        inpaint_request(digit_png, str(tmp_path / "full_mask.png"), SHAPE)


def test_bundled_model_inpaints_and_keeps_the_rest_exactly(digit_png):
    model = load_model(CHECKPOINT_DIR / "images_mnist.pt", steps=8, setup=True)
    with pytest.raises(UsageError, match="give the image too"):
        model.generate(2, mask="bottom")
    with pytest.raises(UsageError, match="takes the options inpaint and mask"):
        model.generate(2, inpaint=str(digit_png), mask="bottom", strength=1)
    samples = model.generate(4, condition=3, seed=0, inpaint=str(digit_png), mask="bottom")
    images = samples["images"]
    assert images.shape == (4, *SHAPE)
    known = inpaint_request(digit_png, "bottom", SHAPE).known
    top = slice(0, 14)
    # the kept half is the input exactly (up to float32 rounding of the [-1, 1] scaling)
    assert torch.allclose(images[:, :, top], known[:, top].expand(4, -1, -1, -1), atol=1e-5)
    # the redrawn half is new: the draws differ from each other there
    bottom = images[:, 0, 14:].reshape(4, -1)
    assert float(torch.cdist(bottom, bottom).max()) > 1.0
