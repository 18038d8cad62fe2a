"""Training callbacks: periodic sampling with the EMA weights, scored by the domain's
metrics; the checkpoint and learning-rate callbacks of ``conf/callbacks/``;
:func:`build_callbacks`, which builds the ``callbacks`` config section; and the callback
that makes changed optimizer settings hold after a resume."""

from __future__ import annotations

import inspect
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import hydra.utils
import lightning as L
from lightning.pytorch.callbacks import LearningRateMonitor, ModelCheckpoint
from torch.optim.lr_scheduler import LambdaLR

from molediff.core.samplers import SamplerSpec
from molediff.core.schedules import Schedule
from molediff.inference.guidance import Guidance, NoGuidance
from molediff.inference.model import Model
from molediff.utils.errors import ConfigError
from molediff.utils.instantiate import instantiate


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


# ------------------------------------------------------------------- built from config
def checkpoint_callback(
    dirpath: str | Path, every_n_steps: int = 500, save_top_k: int = 1
) -> ModelCheckpoint:
    """``checkpoints/step<N>.ckpt`` every ``every_n_steps`` optimizer steps, keeping the
    ``save_top_k`` newest (-1: all), plus ``last.ckpt``; ``every_n_steps=0``: ``last.ckpt``
    only (Lightning takes ``None``, not 0, for "never")."""
    every, top_k = int(every_n_steps), int(save_top_k)
    # Lightning keeps k > 1 checkpoints only by a monitored value: "newest" is the largest step
    by_step = {"monitor": "step", "mode": "max"} if every and top_k > 1 else {}
    return ModelCheckpoint(
        dirpath=dirpath,
        filename="step{step:07d}",
        auto_insert_metric_name=False,
        every_n_train_steps=every or None,
        save_top_k=top_k if every else 0,
        save_last=True,
        **by_step,
    )


def lr_monitor(loggers: Sequence[Any] = (), logging_interval: str = "step") -> LearningRateMonitor | None:
    """Log the learning rate, or nothing when the run has no logger (Lightning refuses a
    ``LearningRateMonitor`` without one)."""
    return LearningRateMonitor(logging_interval=logging_interval) if loggers else None


#: objects of the run a callback's constructor may ask for by parameter name
RUN_OBJECTS = ("schedule", "sampler", "guidance", "dirpath", "loggers")


def _parameters(target: str) -> set[str]:
    # the names the target accepts; empty when it cannot be inspected (instantiate then
    # reports the import error with the entry's name)
    try:
        obj = hydra.utils.get_object(target)
        return set(inspect.signature(obj).parameters)
    except Exception:  # noqa: BLE001 - reported by instantiate below
        return set()


def build_callbacks(cfg: Mapping[str, Any] | None, run: Mapping[str, Any]) -> list[L.Callback]:
    """The callbacks of ``cfg`` (the ``callbacks`` section: ``name -> {_target_, ...}``),
    in order.

    An entry that is ``null``, or whose target returns ``None``, is left out. Each entry
    gets the objects of ``run`` (keys of :data:`RUN_OBJECTS`) whose names its target's
    signature has and its entry does not set: a config cannot hold a built sampler.

    Raises:
        ConfigError: an entry without ``_target_`` or that cannot be built, or that builds
            something other than a Lightning callback.
    """
    callbacks: list[L.Callback] = []
    for name, entry in (cfg or {}).items():
        if entry is None:
            continue
        what = f"callback {name}"
        target = entry.get("_target_") if isinstance(entry, Mapping) else None
        if not isinstance(target, str):
            raise ConfigError(f"configuration for {what} has no _target_")
        wanted = _parameters(target)
        kwargs = {k: v for k, v in run.items() if k in wanted and k not in entry}
        cb = instantiate(entry, what=what, **kwargs)
        if cb is None:
            continue
        if not isinstance(cb, L.Callback):
            raise ConfigError(f"{what} ({target}) builds {type(cb).__name__}, not a Lightning "
                              "Callback")
        callbacks.append(cb)
    return callbacks


# ------------------------------------------------------------------------------ resume
class ResumeOptimizerConfig(L.Callback):
    """Make the run's ``optim`` / ``lr_scheduler`` settings hold after a resume.

    Lightning restores the optimizer and LR scheduler from the checkpoint *with their
    hyperparameters*: the param groups' ``lr``, ``betas``, ``weight_decay`` ... and the
    scheduler's ``base_lrs`` and its schedule's own fields (``warmup_cosine``'s
    ``warmup_steps``, ``total_steps``, ``min_factor`` live in its state). A resume whose
    config changes them (``optim.lr=...``, or ``trainer.max_steps`` moving
    ``lr_scheduler.total_steps``) would silently keep the old values. This callback, added
    only in that case, writes the config's values back after the restore (at train start),
    keeping the optimizer's moments and the step count.

    Args:
        optim: the run's ``optim`` section (``_target_`` and the optimizer's keywords).
        lr_scheduler: the run's ``lr_scheduler`` section, or ``None``.
    """

    def __init__(self, optim: Mapping[str, Any], lr_scheduler: Mapping[str, Any] | None) -> None:
        self.optim = {k: v for k, v in optim.items() if not k.startswith("_")}
        self.lr_scheduler = {k: v for k, v in (lr_scheduler or {}).items()
                             if not k.startswith("_")}

    def on_train_start(self, trainer: L.Trainer, pl_module: Any) -> None:
        for opt in trainer.optimizers:
            for group in opt.param_groups:
                for key, value in self.optim.items():
                    if key in group:  # same container type as the optimizer keeps it
                        group[key] = type(group[key])(value) if isinstance(
                            group[key], tuple | list) else value
                if "lr" in self.optim:
                    group["initial_lr"] = float(self.optim["lr"])
        for sched_cfg in trainer.lr_scheduler_configs:
            sched = sched_cfg.scheduler
            groups = sched.optimizer.param_groups
            sched.base_lrs = [g.get("initial_lr", g["lr"]) for g in groups]
            if isinstance(sched, LambdaLR):
                for fn in sched.lr_lambdas:
                    for key, value in self.lr_scheduler.items():
                        if hasattr(fn, key) and not callable(getattr(fn, key)):
                            setattr(fn, key, type(getattr(fn, key))(value))
                # the rate of the next step from the new base and schedule, at the restored step
                for g, base, fn in zip(groups, sched.base_lrs, sched.lr_lambdas, strict=True):
                    g["lr"] = base * fn(sched.last_epoch)
            sched._last_lr = [g["lr"] for g in groups]  # what get_last_lr() / the LR monitor read
