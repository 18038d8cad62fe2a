"""The three tasks behind the Hydra entry points: :func:`train`, :func:`sample`,
:func:`evaluate`. Each takes a composed config (``conf/{train,sample,evaluate}.yaml``),
writes its outputs into ``cfg.paths.output_dir`` and finishes with ``metrics.json``.

Outputs are written only after the work they report has succeeded, each file atomically,
so a failing run never leaves half-written results.
"""

from __future__ import annotations

import hashlib
import math
import os
import shutil
import tempfile
import time
import warnings
from pathlib import Path
from typing import Any

import lightning as L
import torch
from lightning.pytorch.callbacks import LearningRateMonitor, ModelCheckpoint
from omegaconf import DictConfig, OmegaConf, open_dict

from molediff.core.denoisers import Denoiser
from molediff.domains.base import Domain
from molediff.train.builders import build_components, build_domain
from molediff.train.callbacks import SampleMetricsCallback, ema_sample_metrics
from molediff.train.checkpoint import (
    AtomicCheckpointIO,
    checkpoint_config,
    ema_state_dict,
    load_checkpoint,
    load_weights,
)
from molediff.train.data import DomainDataModule
from molediff.train.launch import prepare_job
from molediff.train.module import DEFAULT_VAL_SIGMAS, DiffusionModule, step_seed, x0_mse
from molediff.train.sampling import generate
from molediff.utils.errors import CheckpointError, ConfigError
from molediff.utils.instantiate import instantiate
from molediff.utils.io import atomic_write_text, write_json

#: config groups a sampling/evaluation run may replace in the checkpoint's config
SAMPLING_GROUPS = ("sampler", "schedule", "guidance")


# --------------------------------------------------------------------------- helpers
def set_threads(cfg: DictConfig) -> None:
    """Apply ``cfg.torch_threads`` (intra-op CPU threads) when set."""
    n = cfg.get("torch_threads")
    if n:
        torch.set_num_threads(int(n))


def resolve_device(name: str | None) -> torch.device:
    """``auto`` -> CUDA when available, else CPU."""
    if name in (None, "auto"):
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(name)


def state_checksum(module: torch.nn.Module) -> str:
    """SHA-256 of a module's state (keys sorted), to compare weights across processes."""
    h = hashlib.sha256()
    for k, v in sorted(module.state_dict().items()):
        h.update(k.encode())
        h.update(v.detach().cpu().contiguous().numpy().tobytes())
    return h.hexdigest()


@torch.no_grad()
def val_x0_mse(
    denoiser: Denoiser,
    domain: Domain,
    batch_size: int = 256,
    sigmas: tuple[float, ...] = DEFAULT_VAL_SIGMAS,
    seed: int = 0,
    device: torch.device | str = "cpu",
) -> float:
    """:func:`~molediff.train.module.x0_mse` over the whole validation set (NaN if none)."""
    dataset = domain.val_dataset()
    if dataset is None or len(dataset) == 0:
        return float("nan")
    was_training = denoiser.training
    denoiser.eval()
    total, count = 0.0, 0
    try:
        for i in range(0, len(dataset), batch_size):
            items = [dataset[j] for j in range(i, min(i + batch_size, len(dataset)))]
            batch = L.fabric.utilities.apply_func.move_data_to_device(domain.collate(items), device)
            gen = torch.Generator(device=device).manual_seed(step_seed(seed, -2, i))
            total += float(x0_mse(denoiser, domain, batch, sigmas, gen)) * len(items)
            count += len(items)
    finally:
        denoiser.train(was_training)
    return total / count


def _finite_or_nan(v: Any) -> float:
    try:
        f = float(v)
    except (TypeError, ValueError):
        return float("nan")
    return f if math.isfinite(f) else float("nan")


def publish(out_dir: Path, write: Any) -> list[Path]:
    """Run ``write(tmp_dir) -> [paths]`` in a hidden temporary directory inside
    ``out_dir``, then move every file into ``out_dir``: either all outputs appear or none."""
    out_dir.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=out_dir, prefix=".partial-"))
    try:
        paths = [Path(p) for p in write(tmp)]
        final = []
        for p in paths:
            dest = out_dir / p.relative_to(tmp)
            dest.parent.mkdir(parents=True, exist_ok=True)
            os.replace(p, dest)
            final.append(dest)
        return final
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


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
    config_yaml = OmegaConf.to_yaml(cfg, resolve=True)
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


# ------------------------------------------------------------- sample and evaluate
def _from_checkpoint(cfg: DictConfig) -> tuple[dict[str, Any], DictConfig, Any]:
    """Load ``cfg.ckpt_path``, apply the sampling overrides to its saved config and build
    the model with its (EMA) weights."""
    if not cfg.get("ckpt_path"):
        raise ConfigError("no checkpoint given: add ckpt_path=/path/to/last.ckpt")
    ckpt = load_checkpoint(cfg.ckpt_path, expect_domain=cfg.get("expect_domain"))
    eff = checkpoint_config(ckpt)
    with open_dict(eff):
        for group in SAMPLING_GROUPS:
            if cfg.get(group) is not None:
                eff[group] = cfg[group]
        if cfg.get("steps"):
            eff.sampler.steps = int(cfg.steps)
    comps = build_components(eff)
    if comps.domain.name != ckpt["molediff"].get("domain"):
        raise CheckpointError(
            f"checkpoint {cfg.ckpt_path} says domain {ckpt['molediff'].get('domain')!r} but its "
            f"config builds {comps.domain.name!r}"
        )
    try:
        comps.denoiser.load_state_dict(ema_state_dict(ckpt, bool(cfg.get("use_ema", True))))
    except RuntimeError as exc:
        raise CheckpointError(f"checkpoint weights do not fit the model of its config: {exc}") from exc
    comps.denoiser.eval().requires_grad_(False)
    comps.domain.setup()
    return ckpt, eff, comps


def sample(cfg: DictConfig) -> dict[str, Any]:
    """Sample from a checkpoint (with its saved config; sampler/schedule/guidance/steps may
    be overridden), export the samples and write ``metrics.json``."""
    set_threads(cfg)
    ckpt, eff, comps = _from_checkpoint(cfg)
    device = resolve_device(cfg.get("device"))
    comps.denoiser.to(device)
    samples, stats = generate(
        comps.denoiser, comps.domain, comps.schedule, comps.sampler, comps.guidance,
        num_samples=int(cfg.num_samples), batch_size=int(cfg.batch_size), seed=int(cfg.seed),
        condition=cfg.get("condition"), device=device,
    )
    metrics = comps.domain.metrics(samples) if cfg.get("compute_metrics", True) else {}
    result = metrics | stats | {
        "checkpoint": str(cfg.ckpt_path),
        "domain": comps.domain.name,
        "sampler": comps.sampler.name,
        "steps": comps.sampler.steps,
        "trained_steps": int(ckpt["molediff"].get("global_step", -1)),
    }
    out = Path(cfg.paths.output_dir)

    def write(tmp: Path) -> list[Path]:
        files = list(comps.domain.export(samples, tmp))
        files.append(atomic_write_text(tmp / "config_used.yaml", OmegaConf.to_yaml(eff)))
        return files

    result["files"] = [p.name for p in publish(out, write)]
    write_json(out / "metrics.json", result)
    return result


def evaluate(cfg: DictConfig) -> dict[str, Any]:
    """Held-out denoising error (EMA weights) and sample metrics of a checkpoint."""
    set_threads(cfg)
    ckpt, eff, comps = _from_checkpoint(cfg)
    device = resolve_device(cfg.get("device"))
    comps.denoiser.to(device)
    result: dict[str, Any] = {
        "val_x0_mse": val_x0_mse(comps.denoiser, comps.domain, int(cfg.batch_size),
                                 seed=int(cfg.seed), device=device),
    }
    if int(cfg.num_samples) > 0:
        samples, stats = generate(
            comps.denoiser, comps.domain, comps.schedule, comps.sampler, comps.guidance,
            num_samples=int(cfg.num_samples), batch_size=int(cfg.batch_size), seed=int(cfg.seed),
            condition=cfg.get("condition"), device=device,
        )
        result.update({f"sample_{k}": v for k, v in (comps.domain.metrics(samples) | stats).items()})
    reference = comps.domain.reference_metrics(
        cfg.ckpt_path, comps.sampler, num_molecules=int(cfg.reference_molecules),
        seed=int(cfg.seed), device=str(device))
    result.update({f"reference_{k}": v for k, v in reference.items()})
    result |= {
        "checkpoint": str(cfg.ckpt_path),
        "domain": comps.domain.name,
        "sampler": comps.sampler.name,
        "steps": comps.sampler.steps,
        "trained_steps": int(ckpt["molediff"].get("global_step", -1)),
    }
    write_json(Path(cfg.paths.output_dir) / "metrics.json", result)
    return result
