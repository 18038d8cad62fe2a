"""Exponential moving average of model weights, with warm-up."""

from __future__ import annotations

import copy

import torch
from torch import nn


class EMA(nn.Module):
    """Keeps ``shadow = d·shadow + (1 - d)·param`` after every ``update``.

    The decay warms up as ``d_t = min(decay, (1 + t) / (10 + t))`` (t = number of updates
    so far), so early, poorly trained weights are forgotten quickly. Buffers (e.g. batch
    norm statistics) are copied, not averaged.

    Args:
        model: the network whose weights are tracked.
        decay: the asymptotic decay (0.999 by default; 0.9999 for long runs).
        warmup: use the warm-up schedule (otherwise ``d_t = decay``).
    """

    def __init__(self, model: nn.Module, decay: float = 0.999, warmup: bool = True):
        super().__init__()
        if not 0.0 <= decay < 1.0:
            raise ValueError(f"EMA decay must be in [0, 1), got {decay}")
        self.decay = decay
        self.warmup = warmup
        self.shadow = copy.deepcopy(model).eval().requires_grad_(False)
        self.register_buffer("num_updates", torch.zeros((), dtype=torch.long))

    def current_decay(self) -> float:
        t = int(self.num_updates)
        return min(self.decay, (1 + t) / (10 + t)) if self.warmup else self.decay

    @torch.no_grad()
    def update(self, model: nn.Module) -> None:
        d = self.current_decay()
        for s, p in zip(self.shadow.parameters(), model.parameters(), strict=True):
            s.lerp_(p.detach().to(s.dtype), 1 - d)
        for s, b in zip(self.shadow.buffers(), model.buffers(), strict=True):
            s.copy_(b)
        self.num_updates += 1

    def forward(self, *args, **kwargs):
        return self.shadow(*args, **kwargs)
