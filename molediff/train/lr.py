"""Learning-rate schedules referenced from ``conf/train.yaml`` (``lr_scheduler``)."""

from __future__ import annotations

import math

from torch.optim import Optimizer
from torch.optim.lr_scheduler import LambdaLR


class _WarmupCosine:
    # a picklable callable (LambdaLR stores callable objects' __dict__ in its state)
    def __init__(self, warmup_steps: int, total_steps: int, min_factor: float) -> None:
        self.warmup_steps, self.total_steps, self.min_factor = warmup_steps, total_steps, min_factor

    def __call__(self, step: int) -> float:
        if step < self.warmup_steps:
            return (step + 1) / max(1, self.warmup_steps)
        if self.total_steps <= self.warmup_steps:
            return 1.0
        p = min(1.0, (step - self.warmup_steps) / (self.total_steps - self.warmup_steps))
        return self.min_factor + (1 - self.min_factor) * 0.5 * (1 + math.cos(math.pi * p))


def warmup_cosine(
    optimizer: Optimizer, warmup_steps: int = 100, total_steps: int = 10_000, min_factor: float = 0.1
) -> LambdaLR:
    """Linear warm-up over ``warmup_steps``, then cosine decay to ``min_factor·lr`` at
    ``total_steps`` (stepped every optimizer step)."""
    return LambdaLR(optimizer, _WarmupCosine(int(warmup_steps), int(total_steps), float(min_factor)))


def constant(optimizer: Optimizer, warmup_steps: int = 0) -> LambdaLR:
    """Constant learning rate after an optional linear warm-up."""
    return LambdaLR(optimizer, _WarmupCosine(int(warmup_steps), 0, 1.0))
