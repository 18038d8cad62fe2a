"""A modality defined outside the package: 2-D points on a ring of radius 2.

Nothing in ``molediff/`` knows about it; its config files live beside it
(``tests/toy_modality/conf``) and reach Hydra through ``hydra.searchpath``.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn
from torch.utils.data import Dataset, TensorDataset

from molediff.core.space import DenseSpace
from molediff.domains.base import Domain
from molediff.utils.io import atomic_write_text

RADIUS = 2.0


def ring_points(n: int, seed: int) -> Tensor:
    g = torch.Generator().manual_seed(seed)
    angle = torch.rand(n, generator=g) * 2 * math.pi
    return RADIUS * torch.stack([angle.cos(), angle.sin()], dim=1)


class RingDomain(Domain):
    """Points ``[B, 2]`` (arbitrary units) on the circle of radius 2."""

    name = "toy_ring"

    def __init__(self, sigma_data: float = 1.41, num_train: int = 4096) -> None:
        super().__init__(sigma_data=sigma_data)
        self.num_train = int(num_train)

    def train_dataset(self) -> Dataset:
        return TensorDataset(ring_points(self.num_train, 0))

    def val_dataset(self) -> Dataset:
        return TensorDataset(ring_points(256, 1))

    def batch_to(self, batch: Any) -> tuple[Tensor, Any, DenseSpace]:
        x0 = batch[0]
        return x0, None, DenseSpace(x0.shape[0], 1)

    def template(self, n: int, *, condition: Any = None, generator: Any = None,
                 device: Any = "cpu") -> tuple[Tensor, Any, DenseSpace]:
        return torch.zeros(n, 2, device=device), None, DenseSpace(n, 1)

    def decode(self, x: Tensor, cond: Any, space: DenseSpace) -> Tensor:
        return x.detach().cpu()

    def metrics(self, samples: Tensor) -> dict[str, float]:
        r = samples.norm(dim=1)
        return {"num_samples": float(len(samples)), "mean_radius": float(r.mean()),
                "radius_error": float((r - RADIUS).abs().mean())}

    def export(self, samples: Tensor, out_dir: str | Path) -> list[Path]:
        rows = "\n".join(f"{x:.5f},{y:.5f}" for x, y in samples.tolist())
        return [atomic_write_text(Path(out_dir) / "points.csv", "x,y\n" + rows + "\n")]


class RingMLP(nn.Module):
    """``net(x_in, c_noise, cond) -> F`` for ``[B, 2]`` points."""

    def __init__(self, hidden: int = 64) -> None:
        super().__init__()
        self.body = nn.Sequential(nn.Linear(3, hidden), nn.SiLU(), nn.Linear(hidden, hidden),
                                  nn.SiLU(), nn.Linear(hidden, 2))

    def forward(self, x_in: Tensor, c_noise: Tensor, cond: Any) -> Tensor:
        c = c_noise.reshape(-1, 1).expand(x_in.shape[0], 1)
        return self.body(torch.cat([x_in, c], dim=1))
