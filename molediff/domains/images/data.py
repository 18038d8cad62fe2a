"""Image data sets of the images domain: 28×28 grey MNIST and Fashion-MNIST.

Every set is one ``.npz`` file (``numpy.savez_compressed``) with ``uint8`` arrays
``{train,val,test}_images [N, H, W]`` (0 = black background, 255 = full ink) and
``{train,val,test}_labels [N]`` plus ``class_names``. The repository ships small stratified
subsets in ``data/images/`` (built by ``scripts/build_image_data.py``, provenance in
``data/README.md``); the same script writes the full sets (``--full``) for users who have
the source packages, and ``ImagesDomain(data_path=...)`` reads either.

Pixels enter the model scaled to ``[-1, 1]`` (:func:`to_unit`).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np
import torch
from torch import Tensor

from molediff.utils.errors import InputError

#: the repository's data directory (subsets shipped with the code)
DATA_DIR = Path(__file__).resolve().parents[3] / "data" / "images"

DATASETS = ("mnist", "fashion_mnist")
PARTS = ("train", "val", "test")

MNIST_CLASSES = tuple(str(i) for i in range(10))
FASHION_CLASSES = ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
                   "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot")


def to_unit(pixels: np.ndarray | Tensor) -> Tensor:
    """``uint8`` 0..255 grey levels -> float32 in [-1, 1]."""
    return torch.as_tensor(np.asarray(pixels), dtype=torch.float32) / 127.5 - 1.0


def to_uint8(x: Tensor) -> np.ndarray:
    """[-1, 1] images -> ``uint8`` 0..255 (clipped, rounded)."""
    x = x.detach().cpu().float().clamp(-1, 1)
    return ((x + 1) * 127.5).round().to(torch.uint8).numpy()


@dataclass(frozen=True)
class ImageSet:
    """One data set: ``images[part]`` float32 ``[N, 1, H, W]`` in [-1, 1], ``labels[part]``
    int64 ``[N]``, class names."""

    name: str
    images: dict[str, Tensor]
    labels: dict[str, Tensor]
    class_names: tuple[str, ...]

    @property
    def shape(self) -> tuple[int, int, int]:
        return tuple(self.images["train"].shape[1:])  # type: ignore[return-value]

    @property
    def num_classes(self) -> int:
        return len(self.class_names)


def default_path(dataset: str) -> Path:
    """The shipped subset of ``dataset`` (``mnist`` or ``fashion_mnist``)."""
    if dataset not in DATASETS:
        raise InputError(f"unknown image data set {dataset!r}; choose one of {', '.join(DATASETS)}")
    return DATA_DIR / f"{dataset}.npz"


@lru_cache(maxsize=4)
def load(dataset: str = "mnist", path: str | None = None) -> ImageSet:
    """Read a data set file (the shipped subset unless ``path`` names another, e.g. the full
    set written by ``scripts/build_image_data.py --full``)."""
    file = Path(path).expanduser() if path else default_path(dataset)
    if not file.is_file():
        raise InputError(f"image data file {file} not found (build it with scripts/build_image_data.py)")
    with np.load(file, allow_pickle=False) as z:
        missing = [f"{p}_{k}" for p in PARTS for k in ("images", "labels") if f"{p}_{k}" not in z]
        if missing:
            raise InputError(f"{file} lacks {', '.join(missing)}")
        images, labels = {}, {}
        for p in PARTS:
            img = z[f"{p}_images"]
            if img.dtype != np.uint8 or img.ndim != 3:
                raise InputError(f"{file}: {p}_images must be uint8 [N, H, W], got {img.dtype} {img.shape}")
            images[p] = to_unit(img).unsqueeze(1)
            labels[p] = torch.as_tensor(z[f"{p}_labels"].astype(np.int64))
        names = tuple(str(s) for s in z["class_names"]) if "class_names" in z else MNIST_CLASSES
    return ImageSet(dataset, images, labels, names)
