"""scikit-learn's 8×8 handwritten digits (UCI optdigits test set, 1,797 images, bundled
with scikit-learn, CC BY 4.0): images scaled from 0..16 to [-1, 1], labels 0..9."""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np
import torch
from torch import Tensor

NUM_CLASSES = 10
PIXEL_MAX = 16.0


def to_unit(pixels: np.ndarray | Tensor) -> Tensor:
    """0..16 grey levels -> [-1, 1]."""
    return torch.as_tensor(pixels, dtype=torch.float32) / (PIXEL_MAX / 2) - 1.0


def to_pixels(x: Tensor) -> np.ndarray:
    """[-1, 1] images -> 0..16 grey levels (clipped), flattened to ``[N, H*W*C]`` float64."""
    x = x.detach().cpu().double().clamp(-1, 1)
    return ((x + 1) * (PIXEL_MAX / 2)).reshape(x.shape[0], -1).numpy()


@lru_cache(maxsize=1)
def _load() -> tuple[np.ndarray, np.ndarray]:
    from sklearn.datasets import load_digits

    d = load_digits()
    return d.images.astype(np.float32), d.target.astype(np.int64)


@dataclass(frozen=True)
class DigitsSplit:
    """Images ``[N, 1, 8, 8]`` in [-1, 1] and labels ``[N]`` of the train and val parts."""

    train_x: Tensor
    train_y: Tensor
    val_x: Tensor
    val_y: Tensor


def load_split(val_fraction: float = 0.2, seed: int = 0) -> DigitsSplit:
    """A fixed, stratified train/val split (same ``seed`` -> same split)."""
    if not 0.0 < val_fraction < 1.0:
        raise ValueError(f"val_fraction must be in (0, 1), got {val_fraction}")
    images, labels = _load()
    rng = np.random.default_rng(seed)
    val_idx = []
    for c in range(NUM_CLASSES):
        idx = np.flatnonzero(labels == c)
        rng.shuffle(idx)
        val_idx.append(idx[: int(round(val_fraction * len(idx)))])
    val = np.sort(np.concatenate(val_idx))
    train = np.setdiff1d(np.arange(len(labels)), val)
    x = to_unit(images).unsqueeze(1)
    y = torch.as_tensor(labels)
    return DigitsSplit(x[train], y[train], x[val], y[val])
