"""The small CNN classifier that scores generated images.

Trained here on the real training images (``scripts/train_image_classifier.py``) and
shipped as ``molediff/checkpoints/images_classifier_<dataset>.pt``; its held-out accuracy
is stored in the file and in docs/model_card_images.md. It gives the images domain two
kinds of numbers: the fraction of class-conditional samples it assigns to the class they
were drawn for, and, through :meth:`ImageClassifier.features` (the 128-D penultimate
layer), the Fréchet distance and KID of samples against held-out images
(:mod:`molediff.domains.images.metrics`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn
from torch.nn import functional as F

from molediff.utils.errors import InputError

CHECKPOINT_DIR = Path(__file__).resolve().parents[2] / "checkpoints"


def classifier_path(dataset: str) -> Path:
    """The shipped classifier of ``dataset``."""
    return CHECKPOINT_DIR / f"images_classifier_{dataset}.pt"


class ImageClassifier(nn.Module):
    """Two 3×3 conv blocks (each conv, ReLU, conv, ReLU, 2×2 max-pool), global average and
    max pooling, a ``feature_dim`` hidden layer (the feature space) and the class logits.

    Args:
        in_channels: image channels.
        num_classes: classes.
        width: channels of the first block (the second has twice as many).
        feature_dim: width of the penultimate (feature) layer.
    """

    def __init__(self, in_channels: int = 1, num_classes: int = 10, width: int = 16,
                 feature_dim: int = 128) -> None:
        super().__init__()
        self.config = {"in_channels": in_channels, "num_classes": num_classes, "width": width,
                       "feature_dim": feature_dim}
        w = width
        self.body = nn.Sequential(
            nn.Conv2d(in_channels, w, 3, padding=1), nn.ReLU(), nn.Conv2d(w, w, 3, padding=1), nn.ReLU(),
            nn.MaxPool2d(2),
            nn.Conv2d(w, 2 * w, 3, padding=1), nn.ReLU(), nn.Conv2d(2 * w, 2 * w, 3, padding=1), nn.ReLU(),
            nn.MaxPool2d(2),
        )
        self.hidden = nn.Linear(4 * w, feature_dim)
        self.head = nn.Linear(feature_dim, num_classes)

    def features(self, x: Tensor) -> Tensor:
        """``[B, C, H, W]`` images in [-1, 1] -> ``[B, feature_dim]`` penultimate features."""
        h = self.body(x)
        pooled = torch.cat([h.mean(dim=(2, 3)), h.amax(dim=(2, 3))], dim=1)
        return F.relu(self.hidden(pooled))

    def forward(self, x: Tensor) -> Tensor:
        return self.head(self.features(x))

    @torch.no_grad()
    def embed(self, images: Tensor, batch_size: int = 500) -> tuple[np.ndarray, np.ndarray]:
        """Features ``float64 [N, feature_dim]`` and predicted labels ``[N]`` of ``images``
        (clipped to [-1, 1]), in evaluation mode on the CPU."""
        self.eval()
        feats, preds = [], []
        for chunk in images.detach().float().clamp(-1, 1).split(batch_size):
            f = self.features(chunk)
            feats.append(f.double().numpy())
            preds.append(self.head(f).argmax(dim=1).numpy())
        if not feats:
            return np.zeros((0, self.config["feature_dim"])), np.zeros(0, dtype=np.int64)
        return np.concatenate(feats), np.concatenate(preds)


def save_classifier(path: str | Path, clf: ImageClassifier, meta: dict[str, Any]) -> Path:
    """Write the weights, constructor options and ``meta`` (data set, accuracies, training)."""
    import io

    from molediff.utils.io import atomic_write_bytes

    buf = io.BytesIO()
    torch.save({"state_dict": clf.state_dict(), "config": clf.config, "meta": meta}, buf)
    return atomic_write_bytes(path, buf.getvalue())


def load_classifier(path: str | Path) -> tuple[ImageClassifier, dict[str, Any]]:
    """A classifier written by :func:`save_classifier` and its ``meta``."""
    path = Path(path)
    if not path.is_file():
        raise InputError(f"image classifier {path} not found (train it with "
                         "scripts/train_image_classifier.py)")
    blob = torch.load(path, map_location="cpu", weights_only=True)
    clf = ImageClassifier(**blob["config"])
    clf.load_state_dict(blob["state_dict"])
    clf.eval()
    return clf, dict(blob["meta"])
