"""The sampling and evaluation tasks behind ``molediff sample`` and ``molediff evaluate``.

Each takes a composed config (``conf/sample.yaml``, ``conf/evaluate.yaml``), loads the
checkpoint through :func:`~molediff.inference.model.load_model` (no Lightning), writes its
outputs into ``cfg.paths.output_dir`` (all or nothing) and finishes with ``metrics.json``
and one line on stderr naming every file written.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import torch
from omegaconf import DictConfig, OmegaConf

from molediff.inference.model import Model, load_model
from molediff.inference.validation import val_x0_mse
from molediff.utils.errors import ConfigError, UsageError
from molediff.utils.io import atomic_write_text, check_output_dir, write_json
from molediff.utils.publish import publish


def set_threads(cfg: DictConfig) -> None:
    """Apply ``cfg.torch_threads`` (intra-op CPU threads) when set."""
    n = cfg.get("torch_threads")
    if n:
        torch.set_num_threads(int(n))


def _positive(cfg: DictConfig, key: str, allow_zero: bool = False) -> int:
    try:
        value = int(cfg.get(key))
    except (TypeError, ValueError):
        raise UsageError(f"{key} must be an integer, got {cfg.get(key)!r}") from None
    if value < (0 if allow_zero else 1):
        raise UsageError(f"{key} must be >= {0 if allow_zero else 1}, got {value}")
    return value


def model_from_config(cfg: DictConfig) -> Model:
    """``load_model(cfg.ckpt_path)`` with the config's sampling overrides (``sampler``,
    ``schedule``, ``guidance`` groups, ``steps``, ``use_ema``, ``device``)."""
    if not cfg.get("ckpt_path"):
        raise ConfigError("no checkpoint given: add ckpt_path=/path/to/last.ckpt")
    steps = cfg.get("steps")
    if steps is not None:
        steps = _positive(cfg, "steps")
    return load_model(
        cfg.ckpt_path, expect_domain=cfg.get("expect_domain"), sampler=cfg.get("sampler"),
        steps=steps, schedule=cfg.get("schedule"), guidance=cfg.get("guidance"),
        use_ema=bool(cfg.get("use_ema", True)), device=cfg.get("device"), setup=True)


def _about(model: Model, cfg: DictConfig) -> dict[str, Any]:
    return {"checkpoint": str(cfg.ckpt_path), "domain": model.domain.name,
            "sampler": model.sampler.name, "steps": model.sampler.steps,
            "trained_steps": model.trained_steps}


def _announce(out: Path, files: list[Path]) -> None:
    names = ", ".join(p.name for p in files)
    print(f"[molediff] wrote {out}: {names}", file=sys.stderr, flush=True)


def sample(cfg: DictConfig) -> dict[str, Any]:
    """Sample from a checkpoint (its saved config; sampler / schedule / guidance / steps
    may be overridden), export the samples and write ``metrics.json``."""
    num_samples = _positive(cfg, "num_samples")
    batch_size = _positive(cfg, "batch_size")
    out = check_output_dir(cfg.paths.output_dir)  # before any model work
    set_threads(cfg)
    model = model_from_config(cfg)
    samples = model.generate(num_samples, condition=_condition(cfg), seed=int(cfg.seed),
                             batch_size=batch_size, progress=True, **_options(cfg))
    metrics = model.domain.metrics(samples) if cfg.get("compute_metrics", True) else {}
    result = metrics | model.stats | _about(model, cfg)

    def write(tmp: Path) -> list[Path]:
        files = list(model.domain.export(samples, tmp))
        files.append(atomic_write_text(tmp / "config_used.yaml", OmegaConf.to_yaml(model.config)))
        return files

    files = publish(out, write)
    result["files"] = [p.name for p in files]
    files.append(write_json(out / "metrics.json", result))
    _announce(out, files)
    return result


def evaluate(cfg: DictConfig) -> dict[str, Any]:
    """Held-out denoising error (EMA weights), sample metrics and the domain's reference
    metrics of a checkpoint."""
    num_samples = _positive(cfg, "num_samples", allow_zero=True)
    batch_size = _positive(cfg, "batch_size")
    num_references = _positive(cfg, "num_references", allow_zero=True)
    out = check_output_dir(cfg.paths.output_dir)
    set_threads(cfg)
    model = model_from_config(cfg)
    result: dict[str, Any] = {
        "val_x0_mse": val_x0_mse(model.denoiser, model.domain, batch_size,
                                 seed=int(cfg.seed), device=model.device),
    }
    if num_samples > 0:
        samples = model.generate(num_samples, condition=_condition(cfg), seed=int(cfg.seed),
                                 batch_size=batch_size, progress=True)
        result.update({f"sample_{k}": v
                       for k, v in (model.domain.metrics(samples) | model.stats).items()})
    if num_references > 0:
        reference = model.domain.reference_metrics(model, num_references=num_references,
                                                   seed=int(cfg.seed))
        result.update({f"reference_{k}": v for k, v in reference.items()})
    result |= _about(model, cfg)
    _announce(out, [write_json(out / "metrics.json", result)])
    return result


def _options(cfg: DictConfig) -> dict[str, Any]:
    """The domain's generation options (``options.<name>=...``)."""
    options = cfg.get("options") or {}
    return OmegaConf.to_container(options, resolve=True) if OmegaConf.is_config(options) else dict(options)


def _condition(cfg: DictConfig) -> Any:
    cond = cfg.get("condition")
    return OmegaConf.to_container(cond, resolve=True) if OmegaConf.is_config(cond) else cond
