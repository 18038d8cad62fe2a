"""Export of digit samples: a PNG grid (one row per label) and an ``.npz`` of the images."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
from torch import Tensor

from molediff.utils.io import atomic_write_bytes


def image_grid(images: np.ndarray, labels: np.ndarray, num_classes: int = 10, pad: int = 1) -> np.ndarray:
    """``[N, H, W]`` grey images in [0, 1] -> one ``[rows*(H+pad), cols*(W+pad)]`` canvas,
    row ``c`` holding the samples of label ``c`` (unlabelled samples in a last row)."""
    n, h, w = images.shape
    rows = [np.flatnonzero(labels == c) for c in range(num_classes)]
    rows.append(np.flatnonzero((labels < 0) | (labels >= num_classes)))
    rows = [r for r in rows if len(r)]
    cols = max((len(r) for r in rows), default=1)
    canvas = np.ones((len(rows) * (h + pad) + pad, cols * (w + pad) + pad), dtype=np.float32)
    for i, r in enumerate(rows):
        for j, k in enumerate(r):
            y, x = pad + i * (h + pad), pad + j * (w + pad)
            canvas[y : y + h, x : x + w] = images[k]
    return canvas


def save_png(path: str | Path, canvas: np.ndarray, scale: int = 8) -> Path:
    """Write a [0, 1] grey canvas as PNG (nearest-neighbour upscaled), atomically; dark ink
    on white paper."""
    import matplotlib

    matplotlib.use("Agg", force=False)
    from matplotlib import pyplot as plt

    big = np.kron(canvas, np.ones((scale, scale), dtype=canvas.dtype))
    buf = io.BytesIO()
    plt.imsave(buf, big, cmap="gray_r", vmin=0.0, vmax=1.0, format="png")
    return atomic_write_bytes(path, buf.getvalue())


def export_digits(images: Tensor, labels: Tensor, out_dir: str | Path, num_classes: int = 10) -> list[Path]:
    """Write ``samples.png`` (grid) and ``samples.npz`` (``images`` as 0..16 floats,
    ``labels``) into ``out_dir``."""
    out_dir = Path(out_dir)
    x = ((images.detach().cpu().float().clamp(-1, 1) + 1) / 2).squeeze(1).numpy()
    y = labels.detach().cpu().numpy()
    png = save_png(out_dir / "samples.png", image_grid(x, y, num_classes))
    buf = io.BytesIO()
    np.savez_compressed(buf, images=(x * 16).astype(np.float32), labels=y)
    npz = atomic_write_bytes(out_dir / "samples.npz", buf.getvalue())
    return [png, npz]
