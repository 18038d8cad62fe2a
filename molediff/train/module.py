"""One Lightning module for every modality.

It owns a core parameterization (``Denoiser``: network + preconditioning + loss), an EMA
copy of it, and the optimiser / LR scheduler built from config; everything modality
specific goes through the :class:`~molediff.domains.base.Domain` interface.

Randomness in training (noise levels, noise, condition dropout) comes from a private
generator re-seeded from ``(seed, global_step, micro-batch, rank)`` at every batch, so a
resumed run draws exactly what the uninterrupted run drew, and DDP ranks draw
different noise.
"""

from __future__ import annotations

from typing import Any

import lightning as L
import torch
from omegaconf import DictConfig
from torch import Tensor

from molediff.core.denoisers import Denoiser
from molediff.core.ema import EMA
from molediff.domains.base import Domain
from molediff.inference.checkpoint import FORMAT_VERSION, META_KEY
from molediff.inference.validation import DEFAULT_VAL_SIGMAS, step_seed, x0_mse
from molediff.utils.errors import CheckpointError
from molediff.utils.instantiate import instantiate


class DiffusionModule(L.LightningModule):
    """Trains ``denoiser`` on ``domain`` batches.

    Args:
        domain: the modality (set up by the datamodule).
        denoiser: a core parameterization wrapping the network.
        optimizer: config with ``_target_`` (e.g. ``torch.optim.AdamW``); ``params`` are added.
        lr_scheduler: optional config with ``_target_`` taking ``optimizer``; stepped per step.
        ema_decay, ema_warmup: EMA of the weights (used for validation and sampling).
        seed: base seed of the training randomness.
        config_yaml: the resolved run config as checkpoints store it
            (:func:`molediff.inference.checkpoint.config_to_yaml`).
        val_sigmas: noise levels of the validation loss.
    """

    def __init__(
        self,
        domain: Domain,
        denoiser: Denoiser,
        optimizer: DictConfig | dict,
        lr_scheduler: DictConfig | dict | None = None,
        ema_decay: float = 0.999,
        ema_warmup: bool = True,
        seed: int = 0,
        config_yaml: str = "",
        val_sigmas: tuple[float, ...] = DEFAULT_VAL_SIGMAS,
    ) -> None:
        super().__init__()
        self.domain = domain
        self.denoiser = denoiser
        self.ema = EMA(denoiser, decay=ema_decay, warmup=ema_warmup)
        self.optimizer_cfg = optimizer
        self.lr_scheduler_cfg = lr_scheduler
        self.seed = int(seed)
        self.config_yaml = config_yaml
        self.val_sigmas = tuple(float(s) for s in val_sigmas)
        self._gen: torch.Generator | None = None
        self._last_step, self._micro = -1, 0

    # ------------------------------------------------------------- training
    def _generator(self, device: torch.device) -> torch.Generator:
        if self._gen is None or self._gen.device != device:
            self._gen = torch.Generator(device=device)
        step = self.global_step
        if step != self._last_step:
            self._last_step, self._micro = step, 0
        self._gen.manual_seed(step_seed(self.seed, step, self._micro, self.global_rank))
        self._micro += 1
        return self._gen

    def training_step(self, batch: Any, batch_idx: int) -> Tensor:
        x0, cond, space = self.domain.batch_to(batch)
        gen = self._generator(x0.device)
        cond = self.domain.drop_condition(cond, gen)
        loss = self.denoiser.loss(x0, cond, space, generator=gen)
        if not torch.isfinite(loss):
            raise FloatingPointError(f"non-finite training loss at step {self.global_step}")
        self.log("train/loss", loss, prog_bar=True, on_step=True, on_epoch=False,
                 batch_size=space.num_samples)
        return loss

    def optimizer_step(self, *args: Any, **kwargs: Any) -> None:
        super().optimizer_step(*args, **kwargs)
        # after the step, before any checkpoint callback runs for this batch
        self.ema.update(self.denoiser)

    def validation_step(self, batch: Any, batch_idx: int) -> Tensor:
        gen = torch.Generator(device=self.device).manual_seed(step_seed(self.seed, -1, batch_idx))
        loss = x0_mse(self.ema.shadow, self.domain, batch, self.val_sigmas, gen)
        n = self.domain.batch_to(batch)[2].num_samples
        self.log("val/x0_mse", loss, prog_bar=True, sync_dist=True, batch_size=n)
        return loss

    def configure_optimizers(self) -> Any:
        params = [p for p in self.denoiser.parameters() if p.requires_grad]
        opt = instantiate(self.optimizer_cfg, what="optimizer", params=params)
        if not self.lr_scheduler_cfg:
            return opt
        sched = instantiate(self.lr_scheduler_cfg, what="lr_scheduler", optimizer=opt)
        return {"optimizer": opt, "lr_scheduler": {"scheduler": sched, "interval": "step"}}

    # ---------------------------------------------------------- checkpoints
    def on_save_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        checkpoint[META_KEY] = {
            "format": FORMAT_VERSION,
            "domain": self.domain.name,
            "config_yaml": self.config_yaml,
            "global_step": int(self.global_step),
        }

    def on_load_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        meta = checkpoint.get(META_KEY) or {}
        if meta.get("domain") != self.domain.name:
            raise CheckpointError(
                f"cannot resume: checkpoint was trained on domain {meta.get('domain')!r}, "
                f"this run trains {self.domain.name!r}"
            )
