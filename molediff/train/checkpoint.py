"""Checkpoint files: written atomically, loaded without unpickling arbitrary objects.

A molediff checkpoint is a Lightning checkpoint (model, EMA, optimiser, LR scheduler and
loop state, so ``trainer.fit(ckpt_path=...)`` resumes exactly) plus a ``"molediff"``
entry::

    {"format": 1, "domain": "digits", "config_yaml": "<resolved Hydra config>",
     "global_step": 1234}

Sampling and evaluation rebuild the model from ``config_yaml`` and never ask for
training options again. Everything in the file is tensors and plain Python containers,
so it loads with ``torch.load(weights_only=True)``.
"""

from __future__ import annotations

import io
import pickle
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
from lightning.fabric.plugins.io.torch_io import TorchCheckpointIO
from omegaconf import DictConfig, OmegaConf

from molediff.utils.errors import CheckpointError
from molediff.utils.io import atomic_write_bytes

FORMAT_VERSION = 1
META_KEY = "molediff"


def save_file(obj: dict[str, Any], path: str | Path) -> Path:
    """``torch.save`` into memory, then an atomic temp-file + ``os.replace`` write."""
    buf = io.BytesIO()
    torch.save(obj, buf)
    return atomic_write_bytes(path, buf.getvalue())


def load_file(path: str | Path, map_location: Any = "cpu") -> dict[str, Any]:
    """``torch.load(weights_only=True)`` with clear errors for missing or corrupted files."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"checkpoint not found: {path}")
    try:
        obj = torch.load(path, map_location=map_location, weights_only=True)
    except (RuntimeError, EOFError, pickle.UnpicklingError, zipfile.BadZipFile, ValueError, OSError) as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise CheckpointError(
            f"checkpoint {path} is corrupted or not a safe molediff checkpoint ({first[:200]})"
        ) from exc
    if not isinstance(obj, dict):
        raise CheckpointError(f"checkpoint {path} does not hold a dictionary")
    return obj


def load_checkpoint(
    path: str | Path, expect_domain: str | None = None, map_location: Any = "cpu"
) -> dict[str, Any]:
    """Load and validate a molediff checkpoint.

    Raises:
        CheckpointError: the file is missing, corrupted, not from molediff, from a newer
            format, or (with ``expect_domain``) trained on another domain.
    """
    ckpt = load_file(path, map_location)
    meta = ckpt.get(META_KEY)
    if not isinstance(meta, dict) or "config_yaml" not in meta or "state_dict" not in ckpt:
        raise CheckpointError(f"{path} is not a molediff training checkpoint (no '{META_KEY}' entry)")
    if int(meta.get("format", 0)) > FORMAT_VERSION:
        raise CheckpointError(
            f"{path} has checkpoint format {meta.get('format')}; this molediff reads <= {FORMAT_VERSION}"
        )
    if expect_domain is not None and meta.get("domain") != expect_domain:
        raise CheckpointError(
            f"checkpoint {path} was trained on domain {meta.get('domain')!r}, not {expect_domain!r}"
        )
    return ckpt


def load_weights(module: Any, path: str | Path, expect_domain: str | None = None) -> int:
    """Copy a checkpoint's network weights into ``module`` (a ``DiffusionModule``) for
    fine-tuning: the raw weights (``denoiser.*``) and their EMA (``ema.shadow.*``); a slim
    bundled checkpoint (EMA only) initialises both from the EMA. Optimizer, schedule and step
    count are not touched. Returns the checkpoint's training step.

    Raises:
        CheckpointError: unreadable checkpoint, other domain, or weights that do not fit.
    """
    ckpt = load_checkpoint(path, expect_domain=expect_domain)
    state = ckpt["state_dict"]
    ema = {k[len("ema.shadow."):]: v for k, v in state.items() if k.startswith("ema.shadow.")}
    raw = {k[len("denoiser."):]: v for k, v in state.items() if k.startswith("denoiser.")} or ema
    if not raw:
        raise CheckpointError(f"{path} holds no network weights")
    try:
        module.denoiser.load_state_dict(raw)
        module.ema.shadow.load_state_dict(ema or raw)
    except RuntimeError as exc:
        raise CheckpointError(f"weights of {path} do not fit this model: "
                              f"{str(exc).splitlines()[0]}") from exc
    return int(ckpt[META_KEY].get("global_step", 0))


def export_checkpoint(
    src: str | Path,
    dst: str | Path,
    *,
    expect_domain: str | None = None,
    sampler: dict[str, Any] | None = None,
    training: dict[str, Any] | None = None,
) -> Path:
    """Slim a training checkpoint into one to ship: the EMA weights (``ema.shadow.*``)
    and the ``molediff`` entry (resolved config, domain, step) only; it loads with
    ``torch.load(weights_only=True)`` through :func:`load_checkpoint`.

    Args:
        sampler: replaces the config's ``sampler`` entry (``name``, ``steps``, ``options``):
            the default sampling the model ships with, chosen after training.
        training: facts about the training budget stored as ``molediff.training``
            (e.g. ``device``, ``train_seconds``), shown by benchmarks and model cards.
    """
    from molediff.train.sampling import SamplerSpec

    ckpt = load_checkpoint(src, expect_domain=expect_domain)
    state = {k: v.detach().clone() for k, v in ckpt["state_dict"].items()
             if k.startswith("ema.shadow.")}
    if not state:
        raise CheckpointError(f"{src} holds no EMA weights to export")
    meta = dict(ckpt[META_KEY])
    if sampler is not None:
        spec = {"_target_": "molediff.train.sampling.SamplerSpec", **sampler}
        SamplerSpec(spec["name"], spec.get("steps", 18), spec.get("options"))  # fail here, not later
        cfg = OmegaConf.create(meta["config_yaml"])
        cfg.sampler = spec
        meta["config_yaml"] = OmegaConf.to_yaml(cfg, resolve=True)
    if training is not None:
        meta["training"] = dict(meta.get("training") or {}) | dict(training)
    return save_file({"state_dict": state, META_KEY: meta}, dst)


def checkpoint_config(ckpt: dict[str, Any]) -> DictConfig:
    """The resolved training config stored in a checkpoint."""
    cfg = OmegaConf.create(ckpt[META_KEY]["config_yaml"])
    assert isinstance(cfg, DictConfig)
    return cfg


def ema_state_dict(ckpt: dict[str, Any], use_ema: bool = True) -> dict[str, torch.Tensor]:
    """The denoiser's weights (EMA shadow by default) from a checkpoint's ``state_dict``."""
    prefix = "ema.shadow." if use_ema else "denoiser."
    state = {k[len(prefix) :]: v for k, v in ckpt["state_dict"].items() if k.startswith(prefix)}
    if not state:
        raise CheckpointError(f"checkpoint has no '{prefix}*' weights")
    return state


class AtomicCheckpointIO(TorchCheckpointIO):
    """Lightning checkpoint IO: atomic writes, ``weights_only=True`` reads."""

    def save_checkpoint(
        self, checkpoint: dict[str, Any], path: str | Path, storage_options: Any | None = None
    ) -> None:
        if storage_options is not None:
            raise TypeError("AtomicCheckpointIO takes no storage_options")
        save_file(checkpoint, path)

    def load_checkpoint(
        self,
        path: str | Path,
        map_location: Callable | Any = None,
        weights_only: bool | None = None,
    ) -> dict[str, Any]:
        return load_file(path, map_location=map_location if map_location is not None else "cpu")

    def remove_checkpoint(self, path: str | Path) -> None:
        Path(path).unlink(missing_ok=True)
