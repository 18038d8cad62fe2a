"""The training task behind ``molediff train``: takes a composed config
(``conf/train.yaml``), writes checkpoints and logs into ``cfg.paths.output_dir`` and
finishes with ``metrics.json``. (Sampling and evaluation live in
:mod:`molediff.inference.run`: they need no Lightning.)

Outputs are written only after the work they report has succeeded, each file atomically,
so a failing run never leaves half-written results.
"""

from __future__ import annotations

import math
import os
import time
import warnings
from pathlib import Path
from typing import Any

import lightning as L
import torch
from lightning.pytorch.callbacks import LearningRateMonitor, ModelCheckpoint
from omegaconf import DictConfig

from molediff.inference.builders import build_components, build_domain
from molediff.inference.checkpoint import config_to_yaml, load_checkpoint
from molediff.inference.run import set_threads
from molediff.inference.validation import val_x0_mse
from molediff.train.callbacks import SampleMetricsCallback, ema_sample_metrics
from molediff.train.checkpoint import AtomicCheckpointIO, load_weights
from molediff.train.data import DomainDataModule
from molediff.train.launch import prepare_job
from molediff.train.module import DiffusionModule
from molediff.utils.errors import ConfigError
from molediff.utils.instantiate import instantiate
from molediff.utils.io import write_json
from molediff.utils.torchfile import tensors_sha256


# --------------------------------------------------------------------------- helpers
def state_checksum(module: torch.nn.Module) -> str:
    """SHA-256 of a module's state (keys sorted), to compare weights across processes."""
    return tensors_sha256(module.state_dict())


def _finite_or_nan(v: Any) -> float:
    try:
        f = float(v)
    except (TypeError, ValueError):
        return float("nan")
    return f if math.isfinite(f) else float("nan")


# ----------------------------------------------------------------------------- train
_DIST_ENV = ("MASTER_ADDR", "MASTER_PORT", "WORLD_SIZE", "NODE_RANK", "LOCAL_RANK", "GROUP_RANK",
             "RANK", "LOCAL_WORLD_SIZE", "PL_GLOBAL_SEED")


def train(cfg: DictConfig) -> dict[str, Any]:
    """Train ``cfg.model`` on ``cfg.domain``; resume from ``cfg.ckpt_path`` if given.

    Writes ``checkpoints/last.ckpt`` (plus periodic ones), logger files and
    ``metrics.json`` (final train loss, EMA validation loss, EMA sample metrics).
    """
    saved_env = {k: os.environ.get(k) for k in _DIST_ENV}
    try:
        return _train(cfg)
    finally:
        # a sweep runs the next job in this process: leave no process group or rendezvous
        # variables behind, or its DDP ranks would join this job's dead group
        if torch.distributed.is_available() and torch.distributed.is_initialized():
            torch.distributed.destroy_process_group()
        for k, v in saved_env.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def _train(cfg: DictConfig) -> dict[str, Any]:
    start = time.perf_counter()
    prepare_job(cfg)
    set_threads(cfg)
    out = Path(cfg.paths.output_dir)
    domain = build_domain(cfg)
    ckpt_path = cfg.get("ckpt_path")
    if ckpt_path:
        ckpt_path = str(Path(ckpt_path).expanduser().resolve())
        load_checkpoint(ckpt_path, expect_domain=domain.name)  # fail before any work
    if cfg.get("init_from") and ckpt_path:
        raise ConfigError("give ckpt_path (resume a run) or init_from (fine-tune from its "
                          "weights), not both")
    L.seed_everything(int(cfg.seed), workers=True, verbose=False)
    comps = build_components(cfg, domain)
    domain.setup()
    config_yaml = config_to_yaml(cfg)
    module = DiffusionModule(
        domain,
        comps.denoiser,
        optimizer=cfg.optim,
        lr_scheduler=cfg.get("lr_scheduler"),
        ema_decay=float(cfg.ema.decay),
        ema_warmup=bool(cfg.ema.warmup),
        seed=int(cfg.seed),
        config_yaml=config_yaml,
    )
    if cfg.get("init_from"):
        load_weights(module, Path(cfg.init_from).expanduser(), expect_domain=domain.name)
    datamodule = DomainDataModule(
        domain,
        batch_size=int(cfg.data.batch_size),
        num_workers=int(cfg.data.num_workers),
        seed=int(cfg.seed),
        limit_val_items=cfg.data.get("limit_val_items"),
    )
    ckpt_dir = out / "checkpoints"
    s = cfg.sampling
    callbacks: list[L.Callback] = [
        ModelCheckpoint(
            dirpath=ckpt_dir,
            filename="step{step:07d}",
            auto_insert_metric_name=False,
            every_n_train_steps=int(cfg.checkpoint.every_n_steps) or None,
            save_top_k=int(cfg.checkpoint.save_top_k) if int(cfg.checkpoint.every_n_steps) else 0,
            save_last=True,
        ),
        SampleMetricsCallback(
            comps.schedule, comps.sampler, comps.guidance,
            every_n_steps=int(s.every_n_steps), num_samples=int(s.num_samples),
            batch_size=int(s.batch_size), seed=int(s.seed),
        ),
    ]
    loggers = [instantiate(c, what=f"logger {k}") for k, c in (cfg.get("logger") or {}).items()]
    if loggers:
        callbacks.append(LearningRateMonitor(logging_interval="step"))
    trainer: L.Trainer = instantiate(
        cfg.trainer,
        what="trainer",
        callbacks=callbacks,
        logger=loggers or False,
        plugins=[AtomicCheckpointIO()],
        default_root_dir=str(out),
    )
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*module\\(s\\) in eval mode.*")  # the EMA copy
        # StepBatchSampler resumes mid-epoch from global_step; Lightning cannot see that
        warnings.filterwarnings("ignore", message=".*dataloader is not resumable.*")
        trainer.fit(module, datamodule=datamodule, ckpt_path=ckpt_path, weights_only=True)
    last = ckpt_dir / "last.ckpt"
    trainer.save_checkpoint(last, weights_only=False)  # full state: resumable
    train_seconds = time.perf_counter() - start

    result: dict[str, Any] = {
        "global_step": int(trainer.global_step),
        "train_loss": _finite_or_nan(trainer.callback_metrics.get("train/loss")),
        "train_seconds": train_seconds,
    }
    if trainer.world_size > 1:
        write_json(out / "ddp" / f"rank{trainer.global_rank}.json", {
            "rank": trainer.global_rank, "world_size": trainer.world_size,
            "global_step": int(trainer.global_step),
            "denoiser_sha256": state_checksum(module.denoiser),
            "ema_sha256": state_checksum(module.ema),
        })
    if not trainer.is_global_zero:
        return result
    device = trainer.strategy.root_device
    module.to(device)
    result["val_x0_mse"] = val_x0_mse(module.ema.shadow, domain, seed=int(cfg.seed), device=device)
    if int(s.num_samples) > 0:
        sm = ema_sample_metrics(
            module, comps.schedule, comps.sampler, comps.guidance,
            int(s.num_samples), int(s.batch_size), int(s.seed),
        )
        result.update({f"sample_{k}": v for k, v in sm.items()})
    result["checkpoint"] = str(last)
    result["domain"] = domain.name
    write_json(out / "metrics.json", result)
    return result
