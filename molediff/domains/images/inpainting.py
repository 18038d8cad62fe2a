"""Inpainting requests: an image file whose masked region the model redraws.

``molediff sample ckpt_path=images_mnist.pt +options.inpaint=digit.png +options.mask=bottom``
keeps the pixels outside the mask exactly and samples the rest (optionally conditioned on
a class label), through the core's :func:`~molediff.core.guidance.inpaint` transform.

The image must be one grey channel of the model's size (28 × 28 for MNIST and
Fashion-MNIST), light ink on a black background as in the data sets. The mask is a named
region (:data:`REGIONS`) or a mask image of the same size whose non-zero pixels are
redrawn.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor

from molediff.domains.images.data import to_unit
from molediff.utils.errors import InputError, UsageError

#: named regions to redraw (halves of the image, and its central half-size square)
REGIONS = ("top", "bottom", "left", "right", "centre")

#: Pillow modes of one grey channel, and the channel count of the others
_GREY_MODES = ("L", "1", "I", "I;16", "F")
_CHANNELS = {"LA": 2, "La": 2, "P": 3, "RGB": 3, "YCbCr": 3, "LAB": 3, "HSV": 3,
             "RGBA": 4, "RGBa": 4, "CMYK": 4}


@dataclass(frozen=True)
class InpaintRequest:
    """``known``: ``[1, H, W]`` pixels in [-1, 1]; ``redraw``: ``BoolTensor[1, H, W]``, True
    where the model samples (the rest is kept exactly)."""

    known: Tensor
    redraw: Tensor
    source: str
    region: str

    def batch(self, n: int, device: torch.device | str = "cpu") -> tuple[Tensor, Tensor]:
        """``known`` and the keep-mask (``~redraw``) for ``n`` images, ``[n, 1, H, W]``."""
        known = self.known.to(device).expand(n, *self.known.shape).contiguous()
        keep = (~self.redraw).to(device).expand(n, *self.redraw.shape).contiguous()
        return known, keep


def region_mask(name: str, shape: tuple[int, int]) -> Tensor:
    """``BoolTensor[H, W]``, True on the named region (one of :data:`REGIONS`)."""
    h, w = shape
    mask = torch.zeros((h, w), dtype=torch.bool)
    if name == "top":
        mask[: h // 2] = True
    elif name == "bottom":
        mask[h // 2 :] = True
    elif name == "left":
        mask[:, : w // 2] = True
    elif name == "right":
        mask[:, w // 2 :] = True
    elif name == "centre":
        mask[h // 4 : h - h // 4, w // 4 : w - w // 4] = True
    else:
        raise UsageError(f"unknown inpainting region {name!r}; give one of {', '.join(REGIONS)} "
                         "or a mask image (non-zero pixels are redrawn)")
    return mask


def read_grey_image(path: str | Path, shape: tuple[int, int], what: str = "image") -> np.ndarray:
    """A one-channel image file of exactly ``shape`` (H, W) as ``uint8 [H, W]``.

    Raises:
        InputError: missing or unreadable file, more than one channel, wrong size.
    """
    from PIL import Image, UnidentifiedImageError

    file = Path(path).expanduser()
    if not file.is_file():
        raise InputError(f"{what} file {file} not found")
    try:
        with Image.open(file) as img:
            img.load()
            mode, size = img.mode, img.size
            if mode not in _GREY_MODES:
                channels = _CHANNELS.get(mode, len(img.getbands()))
                raise InputError(f"{what} {file} has {channels} channels ({mode}); the model draws "
                                 "one grey channel: save it as a greyscale (mode L) image")
            pixels = np.array(img.convert("L"))
    except (UnidentifiedImageError, OSError) as exc:
        raise InputError(f"{what} {file} is not a readable image: {exc}") from None
    h, w = shape
    if size != (w, h):
        raise InputError(f"{what} {file} is {size[0]}x{size[1]} pixels; the model draws "
                         f"{w}x{h} images")
    return pixels


def inpaint_request(image: Any, mask: Any, shape: tuple[int, int, int]) -> InpaintRequest:
    """Check and read an inpainting request before any sampling.

    Args:
        image: path of the image file (see the module docstring).
        mask: a region name (:data:`REGIONS`) or the path of a mask image of the same size.
        shape: the model's image shape ``(1, H, W)``.
    """
    channels, h, w = shape
    if channels != 1:
        raise UsageError(f"inpainting reads grey images; this model draws {channels} channels")
    if mask is None or str(mask) == "":
        raise UsageError(f"inpainting needs a mask: one of {', '.join(REGIONS)} or a mask image")
    known = to_unit(read_grey_image(image, (h, w))).reshape(1, h, w)
    name = str(mask)
    if Path(name).suffix:  # a file name; region names have no suffix
        redraw = torch.from_numpy(read_grey_image(name, (h, w), what="mask") > 0)
    else:
        redraw = region_mask(name, (h, w))
    if not redraw.any():
        raise InputError(f"the mask {name} selects no pixel to redraw")
    if redraw.all():
        raise InputError(f"the mask {name} redraws the whole image; sample without inpaint")
    return InpaintRequest(known=known, redraw=redraw.reshape(1, h, w), source=str(image),
                          region=name)
