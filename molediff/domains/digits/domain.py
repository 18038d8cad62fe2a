"""The digits domain: 8×8 handwritten digits as dense ``[B, 1, 8, 8]`` tensors, class
labels as the condition (label ``10`` is the null class of classifier-free guidance)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor
from torch.utils.data import Dataset, TensorDataset

from molediff.core.space import DenseSpace
from molediff.domains.digits import data as digits_data
from molediff.domains.digits import io as digits_io
from molediff.domains.digits import metrics as digits_metrics
from molediff.domains.labelled import LabelledDenseDomain


class DigitsDomain(LabelledDenseDomain):
    """scikit-learn's digits (1,797 real images), conditional on the digit class.

    Args:
        val_fraction: fraction held out (stratified) for validation and metrics.
        split_seed: seed of the fixed split.
        conditional: train and sample with labels (else unconditional, ``cond = None``).
        cond_dropout: probability of the null label in training (classifier-free guidance).
        sigma_data: data standard deviation (0.75 for the [-1, 1] scaled images).
    """

    name = "digits"
    num_classes = digits_data.NUM_CLASSES
    shape = (1, 8, 8)

    def __init__(
        self,
        val_fraction: float = 0.2,
        split_seed: int = 0,
        conditional: bool = True,
        cond_dropout: float = 0.1,
        sigma_data: float = 0.75,
    ) -> None:
        super().__init__(sigma_data=sigma_data, cond_dropout=cond_dropout if conditional else 0.0)
        self.val_fraction = val_fraction
        self.split_seed = split_seed
        self.conditional = conditional
        self._split: digits_data.DigitsSplit | None = None
        self._clf = None

    @property
    def null_label(self) -> int:
        return self.num_classes

    # ----------------------------------------------------------------- data
    def setup(self) -> None:
        if self._split is None:
            self._split = digits_data.load_split(self.val_fraction, self.split_seed)

    @property
    def split(self) -> digits_data.DigitsSplit:
        self.setup()
        assert self._split is not None
        return self._split

    def train_dataset(self) -> Dataset:
        return TensorDataset(self.split.train_x, self.split.train_y)

    def val_dataset(self) -> Dataset:
        return TensorDataset(self.split.val_x, self.split.val_y)

    # ---------------------------------------------------------------- model
    def net_kwargs(self) -> dict[str, Any]:
        c, h, w = self.shape
        return {"in_channels": c, "num_classes": self.num_classes if self.conditional else 0} | (
            {"height": h, "width": w}
        )

    def build_net(self, model_cfg: Any) -> torch.nn.Module:
        from molediff.utils.instantiate import instantiate

        kwargs = self.net_kwargs()
        target = str(model_cfg.get("_target_", ""))
        if target.endswith("UNet"):  # a generic image network: no explicit height/width
            kwargs.pop("height"), kwargs.pop("width")
        return instantiate(model_cfg, what="model", **kwargs)

    # ------------------------------------------------------------- sampling
    def parse_labels(self, condition: Any) -> list[int]:
        wanted = torch.as_tensor(
            list(condition) if isinstance(condition, Sequence) else [condition], dtype=torch.long
        )
        if ((wanted < 0) | (wanted > self.num_classes)).any():
            raise ValueError(f"digit labels must be in 0..{self.num_classes}, got {wanted.tolist()}")
        return wanted.tolist()

    def decode(self, x: Tensor, cond: Any, space: DenseSpace) -> dict[str, Tensor]:
        labels = cond if cond is not None else torch.full((x.shape[0],), self.null_label)
        return {"images": x.detach().float().clamp(-1, 1).cpu(), "labels": labels.detach().long().cpu()}

    # ---------------------------------------------------- metrics and export
    def classifier(self):
        """Logistic regression fitted on the real training digits (cached)."""
        if self._clf is None:
            s = self.split
            self._clf = digits_metrics.fit_classifier(
                digits_data.to_pixels(s.train_x), s.train_y.numpy(), seed=self.split_seed
            )
        return self._clf

    def metrics(self, samples: dict[str, Tensor]) -> dict[str, float]:
        images, labels = samples["images"], samples["labels"].numpy()
        pix = digits_data.to_pixels(images)
        ref = digits_data.to_pixels(self.split.val_x)
        out: dict[str, float] = {"num_samples": float(len(pix))}
        labelled = labels < self.num_classes
        if labelled.any():
            out["accuracy"] = digits_metrics.classifier_accuracy(
                self.classifier(), pix[labelled], labels[labelled]
            )
        if len(pix) >= 2:
            out["fd_pixel"] = digits_metrics.frechet_distance(pix, ref)
            out["mmd_rbf"] = digits_metrics.mmd_rbf(pix, ref)
        out["pixel_std"] = float(np.std(pix))
        return out

    def export(self, samples: dict[str, Tensor], out_dir: str | Path) -> list[Path]:
        return digits_io.export_digits(samples["images"], samples["labels"], out_dir, self.num_classes)
