"""The domain check every generated image passes before it is returned or written.

A sample fails when it is not an image a person could be shown:

- ``nonfinite``: any NaN / inf pixel;
- ``range``: more than ``max_out_fraction`` of its pixels lie beyond ``±range_limit`` (the
  data live in [-1, 1]; a model that diverged leaves far larger values, while a working
  one overshoots by less, also under classifier-free guidance's extrapolation, and the
  export clips that);
- ``blank``: its pixel standard deviation after clipping to [-1, 1] is below
  ``min_std`` (a constant image: all background or all ink; every real MNIST and
  Fashion-MNIST image has a standard deviation above 0.2).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

CHECK_KINDS = ("nonfinite", "range", "blank")


@dataclass(frozen=True)
class ImageCheck:
    """Thresholds of the image check (pixel units: the [-1, 1] scale of the model)."""

    range_limit: float = 3.0
    max_out_fraction: float = 0.01
    min_std: float = 0.05

    def __call__(self, x: Tensor) -> dict[str, Tensor]:
        """``x [B, C, H, W]`` -> ``{kind: bool [B]}``, True where the sample fails ``kind``."""
        flat = x.detach().reshape(x.shape[0], -1).float()
        finite = torch.isfinite(flat)
        nonfinite = ~finite.all(dim=1)
        safe = torch.where(finite, flat, torch.zeros_like(flat))
        out = (safe.abs() > self.range_limit).float().mean(dim=1) > self.max_out_fraction
        blank = safe.clamp(-1, 1).std(dim=1, unbiased=False) < self.min_std
        return {"nonfinite": nonfinite, "range": out & ~nonfinite, "blank": blank & ~nonfinite}

    def passed(self, x: Tensor) -> Tensor:
        """``bool [B]``: the samples that pass every check."""
        fails = self(x)
        return ~torch.stack(list(fails.values())).any(dim=0)
