"""Callbacks: periodic sampling with the EMA weights, scored by the domain's metrics."""

from __future__ import annotations

from typing import Any

import lightning as L

from molediff.core.samplers import SamplerSpec
from molediff.core.schedules import Schedule
from molediff.inference.guidance import Guidance, NoGuidance
from molediff.inference.model import Model


def ema_sample_metrics(
    module: Any,
    schedule: Schedule,
    sampler: SamplerSpec,
    guidance: Guidance | None,
    num_samples: int,
    batch_size: int,
    seed: int,
) -> dict[str, float]:
    """Sample with ``module.ema.shadow`` (in eval mode, own generator) and score with the
    domain's metrics plus sampling statistics."""
    model = Model(module.domain, module.ema.shadow, schedule, sampler, guidance or NoGuidance(),
                  device=module.device)
    samples = model.generate(num_samples, batch_size=batch_size, seed=seed)
    return module.domain.metrics(samples) | model.stats


class SampleMetricsCallback(L.Callback):
    """Every ``every_n_steps`` optimizer steps (0: never), rank 0 draws ``num_samples``
    samples with the EMA weights and logs ``sample/<metric>`` to all loggers.

    Sampling uses its own generator, so it does not change the training trajectory.
    """

    def __init__(
        self,
        schedule: Schedule,
        sampler: SamplerSpec,
        guidance: Guidance | None = None,
        every_n_steps: int = 0,
        num_samples: int = 100,
        batch_size: int = 256,
        seed: int = 0,
    ) -> None:
        self.schedule, self.sampler, self.guidance = schedule, sampler, guidance
        self.every_n_steps, self.num_samples = int(every_n_steps), int(num_samples)
        self.batch_size, self.seed = int(batch_size), int(seed)
        self.history: list[tuple[int, dict[str, float]]] = []
        self._last_logged = -1

    def on_train_batch_end(self, trainer: L.Trainer, pl_module: Any, *args: Any) -> None:
        step = trainer.global_step
        if self.every_n_steps <= 0 or step == 0 or step % self.every_n_steps or step == self._last_logged:
            return
        self._last_logged = step
        if not trainer.is_global_zero:
            return
        metrics = ema_sample_metrics(
            pl_module, self.schedule, self.sampler, self.guidance,
            self.num_samples, self.batch_size, self.seed,
        )
        self.history.append((step, metrics))
        for logger in trainer.loggers:
            logger.log_metrics({f"sample/{k}": v for k, v in metrics.items()}, step=step)
