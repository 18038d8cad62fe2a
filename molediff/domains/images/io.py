"""Image files: a PNG grid (Pillow, one row per class) and an ``.npz`` of the samples.

The grid shows images as stored in the data sets (light ink on a black background), each
pixel enlarged to ``scale × scale``, separated by ``pad`` grey pixels; :func:`read_grid`
cuts a grid written by :func:`write_grid` back into its images.
"""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
from torch import Tensor

from molediff.domains.images.data import to_uint8
from molediff.utils.errors import InputError
from molediff.utils.io import atomic_write_bytes

#: value of the separator pixels between the images of a grid
PAD_VALUE = 128


def grid_layout(labels: np.ndarray, num_classes: int) -> list[np.ndarray]:
    """Indices of the samples in each grid row: row ``c`` holds label ``c`` (classes
    without samples get no row); unlabelled samples (label ``num_classes``) a last row."""
    rows = [np.flatnonzero(labels == c) for c in range(num_classes)]
    rows.append(np.flatnonzero((labels < 0) | (labels >= num_classes)))
    return [r for r in rows if len(r)]


def grid_canvas(images: np.ndarray, labels: np.ndarray, num_classes: int, pad: int = 1) -> np.ndarray:
    """``uint8 [N, H, W]`` -> ``uint8`` canvas with one row per class."""
    _, h, w = images.shape
    rows = grid_layout(labels, num_classes)
    cols = max((len(r) for r in rows), default=1)
    canvas = np.full((len(rows) * (h + pad) + pad, cols * (w + pad) + pad), PAD_VALUE, np.uint8)
    for i, r in enumerate(rows):
        for j, k in enumerate(r):
            y, x = pad + i * (h + pad), pad + j * (w + pad)
            canvas[y : y + h, x : x + w] = images[k]
    return canvas


def write_grid(path: str | Path, images: np.ndarray, labels: np.ndarray, num_classes: int,
               scale: int = 2, pad: int = 1) -> Path:
    """Write ``uint8 [N, H, W]`` images as one grey PNG grid (atomically)."""
    from PIL import Image

    canvas = grid_canvas(images, labels, num_classes, pad)
    img = Image.fromarray(canvas, mode="L")
    if scale > 1:
        img = img.resize((canvas.shape[1] * scale, canvas.shape[0] * scale), Image.Resampling.NEAREST)
    buf = io.BytesIO()
    img.save(buf, format="PNG")
    return atomic_write_bytes(path, buf.getvalue())


def read_grid(path: str | Path, image_shape: tuple[int, int], counts: list[int],
              scale: int = 2, pad: int = 1) -> list[np.ndarray]:
    """The images of a PNG grid: one ``uint8 [counts[i], H, W]`` array per row."""
    from PIL import Image

    with Image.open(path) as img:
        canvas = np.asarray(img.convert("L"))[::scale, ::scale]
    h, w = image_shape
    rows = []
    for i, n in enumerate(counts):
        y = pad + i * (h + pad)
        rows.append(np.stack([canvas[y : y + h, pad + j * (w + pad) : pad + j * (w + pad) + w]
                              for j in range(n)]))
    return rows


def export_images(images: Tensor, labels: Tensor, out_dir: str | Path, num_classes: int,
                  class_names: tuple[str, ...]) -> list[Path]:
    """Write ``samples.png`` (grid, one row per class) and ``samples.npz`` (``images``
    ``uint8 [N, H, W]`` or ``[N, C, H, W]``, ``labels``, ``class_names``) into ``out_dir``."""
    if images.ndim != 4 or images.shape[0] != labels.shape[0]:
        raise InputError(f"expected images [N, C, H, W] with N labels, got {tuple(images.shape)} "
                         f"and {tuple(labels.shape)}")
    out_dir = Path(out_dir)
    pix = to_uint8(images)
    y = labels.detach().cpu().numpy().astype(np.int64)
    grey = pix[:, 0] if pix.shape[1] == 1 else pix.mean(axis=1).astype(np.uint8)
    png = write_grid(out_dir / "samples.png", grey, y, num_classes)
    buf = io.BytesIO()
    np.savez_compressed(buf, images=pix[:, 0] if pix.shape[1] == 1 else pix, labels=y,
                        class_names=np.array(class_names))
    npz = atomic_write_bytes(out_dir / "samples.npz", buf.getvalue())
    return [png, npz]
