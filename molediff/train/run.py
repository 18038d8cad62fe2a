"""The training task behind ``molediff train``: takes a composed config
(``conf/train.yaml``), writes checkpoints and logs into ``cfg.paths.output_dir`` and
finishes with ``metrics.json``. (Sampling and evaluation live in
:mod:`molediff.inference.run`: they need no Lightning.)

Outputs are written only after the work they report has succeeded, each file atomically,
so a failing run never leaves half-written results.
"""

from __future__ import annotations

import copy
import difflib
import json
import math
import os
import sys
import time
import warnings
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import lightning as L
import torch
from lightning.pytorch.callbacks import ModelCheckpoint
from lightning.pytorch.utilities import rank_zero_only
from omegaconf import DictConfig, ListConfig, OmegaConf, open_dict

from molediff.inference.builders import build_components, build_domain
from molediff.inference.checkpoint import (
    META_KEY,
    checkpoint_config,
    config_to_yaml,
    load_checkpoint,
)
from molediff.inference.run import set_threads
from molediff.inference.validation import val_x0_mse
from molediff.train.callbacks import ResumeOptimizerConfig, build_callbacks, ema_sample_metrics
from molediff.train.checkpoint import AtomicCheckpointIO, load_weights
from molediff.train.data import DomainDataModule
from molediff.train.launch import hydra_job, prepare_job
from molediff.train.module import DiffusionModule
from molediff.utils.config import CONFIG_DIR
from molediff.utils.errors import CheckpointError, ConfigError, UsageError
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


# ------------------------------------------------------------------ the run's config
#: keys of the new run, never taken from the stored config of the run being resumed
_NEW_RUN_KEYS = ("ckpt_path", "init_from", "resume_overrides", "paths.output_dir")
_ABSENT: Any = object()

#: numeric training settings checked before anything is built: key -> (integer?, nullable,
#: smallest value, upper bound exclusive). A wrong type would otherwise surface deep in
#: Lightning or torch as a message that names no key.
_NUMERIC: dict[str, tuple[bool, bool, float | None, float | None]] = {
    "seed": (True, False, None, None),
    "torch_threads": (True, True, 0, None),  # 0 or null: torch's default
    "trainer.max_steps": (True, False, -1, None),
    "trainer.max_epochs": (True, True, -1, None),
    "trainer.val_check_interval": (False, True, 0, None),
    "trainer.check_val_every_n_epoch": (True, True, 1, None),
    "trainer.log_every_n_steps": (True, False, 1, None),
    "trainer.accumulate_grad_batches": (True, False, 1, None),
    "trainer.gradient_clip_val": (False, True, 0, None),
    "trainer.limit_val_batches": (False, False, 0, None),
    "trainer.num_nodes": (True, False, 1, None),
    "data.batch_size": (True, False, 1, None),
    "data.num_workers": (True, False, 0, None),
    "data.limit_val_items": (True, True, 0, None),
    "optim.lr": (False, False, 0, None),
    "optim.weight_decay": (False, False, 0, None),
    "lr_scheduler.warmup_steps": (True, False, 0, None),
    "lr_scheduler.total_steps": (True, False, 0, None),
    "lr_scheduler.min_factor": (False, False, 0, None),
    "ema.decay": (False, False, 0, 1),
    "checkpoint.every_n_steps": (True, False, 0, None),
    "checkpoint.save_top_k": (True, False, -1, None),
    "sampling.every_n_steps": (True, False, 0, None),
    "sampling.num_samples": (True, False, 0, None),
    "sampling.batch_size": (True, False, 1, None),
    "sampling.seed": (True, False, None, None),
}


def _number(key: str, value: Any, integer: bool) -> int | float:
    """``value`` as an int (``integer``) or a number; integral floats (``1e3``) and numeric
    strings (``"1e-3"`` in YAML 1.1 stays a string) are accepted and converted."""
    given, want = value, "an integer" if integer else "a number"
    if isinstance(value, str):
        text = value.strip()
        try:
            value = int(text) if text.lstrip("+-").isdigit() else float(text)
        except ValueError:
            raise UsageError(f"{key} must be {want}, got {given!r}") from None
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise UsageError(f"{key} must be {want}, got {given!r}")
    if integer and isinstance(value, float):
        if not value.is_integer():
            raise UsageError(f"{key} must be {want}, got {given!r}")
        value = int(value)
    return value


def validate_numbers(cfg: DictConfig) -> None:
    """Check (and normalise: ``1e3`` -> ``1000`` for integer keys) the numeric training
    settings of :data:`_NUMERIC` that ``cfg`` has, before anything is built.

    Raises:
        UsageError: one line naming the key, the expected type and the value given, e.g.
            ``trainer.max_steps must be an integer, got 'abc'``.
    """
    for key, (integer, nullable, low, high) in _NUMERIC.items():
        try:
            value = OmegaConf.select(cfg, key, default=_ABSENT)
        except Exception as exc:  # noqa: BLE001 - an interpolation that does not resolve
            raise ConfigError(f"{key}: {exc}") from exc
        if value is _ABSENT or (value is None and nullable):
            continue
        if value is None:
            raise UsageError(f"{key} must be {'an integer' if integer else 'a number'}, got null")
        number = _number(key, value, integer)
        if (low is not None and number < low) or (high is not None and number >= high):
            bounds = (f">= {low}" if high is None else f"in [{low}, {high})") if low is not None \
                else f"< {high}"
            raise UsageError(f"{key} must be {bounds}, got {value!r}")
        if number != value or type(number) is not type(value):
            OmegaConf.update(cfg, key, number, merge=False)


def _raw(container: Any, path: str) -> Any:
    """The node at dotted ``path`` of a plain (unresolved) container, or ``_ABSENT``."""
    node = container
    for part in path.split("."):
        if not isinstance(node, dict) or part not in node:
            return _ABSENT
        node = node[part]
    return node


def _leaves(node: Any, prefix: str = "") -> Iterator[tuple[str, Any]]:
    """``(dotted path, value)`` of every leaf of a plain container; lists and empty
    dicts are leaves."""
    if isinstance(node, dict) and node:
        for k, v in node.items():
            yield from _leaves(v, f"{prefix}.{k}" if prefix else str(k))
    else:
        yield prefix, node


def _is_new_run_key(path: str) -> bool:
    return any(path == k or path.startswith(k + ".") for k in _NEW_RUN_KEYS)


def _config_groups() -> set[str]:
    """Config group names (``sampler``, ``hydra/launcher``, ...) an override may choose."""
    root = Path(CONFIG_DIR)
    groups = {p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_dir()}
    try:
        from hydra.core.hydra_config import HydraConfig

        if HydraConfig.initialized():  # groups of search-path additions too
            groups |= set(HydraConfig.get().runtime.choices)
    except Exception:  # noqa: BLE001 - Hydra's own bookkeeping is optional here
        pass
    return groups


def _typed_overrides(cfg: DictConfig) -> list[str] | None:
    """The overrides to apply to a resumed run's stored config: ``cfg.resume_overrides``
    when given (in-process callers), else the command line of the running Hydra job,
    else ``None`` (in-process without a list: ``cfg`` is the config, as given)."""
    explicit = cfg.get("resume_overrides")
    if explicit is not None:
        if isinstance(explicit, str) or not isinstance(explicit, ListConfig | list | tuple):
            raise UsageError("resume_overrides must be a list of overrides such as "
                             f"['trainer.max_steps=900'], got {explicit!r}")
        return [str(o) for o in explicit]
    job = hydra_job()
    return None if job is None else list(job["overrides"])


def _restore_interpolations(eff: DictConfig, fresh: dict[str, Any]) -> None:
    """Where today's config derives a value from another key (``total_steps:
    ${trainer.max_steps}``, ``every_n_steps: ${checkpoint.every_n_steps}``) and the stored
    value still equals what that derivation gives, make it a derivation again: the stored
    config is resolved, so without this an override of the source would not reach it."""
    for path, raw in _leaves(fresh):
        if not (isinstance(raw, str) and "${" in raw) or _is_new_run_key(path):
            continue
        stored = OmegaConf.select(eff, path, default=_ABSENT, throw_on_resolution_failure=False)
        if stored is _ABSENT or isinstance(stored, DictConfig | ListConfig):
            continue
        OmegaConf.update(eff, path, raw, merge=False)
        try:
            same = OmegaConf.select(eff, path) == stored
        except Exception:  # noqa: BLE001 - e.g. ${hydra:...} outside Hydra: keep the value
            same = False
        if not same:
            OmegaConf.update(eff, path, stored, merge=False)


def _apply_overrides(eff: DictConfig, fresh: dict[str, Any], overrides: Sequence[str],
                     ckpt_path: str) -> None:
    """Apply the typed ``overrides`` to ``eff`` (the stored config), Hydra's way:
    ``key=value`` (the key must exist), ``+key=value`` (must not), ``++key=value``,
    ``~key``; ``group=option`` replaces that section by the option as composed in ``fresh``.
    Hydra's own settings and the new run's keys (:data:`_NEW_RUN_KEYS`) are skipped."""
    from hydra.core.override_parser.overrides_parser import OverridesParser
    from hydra.errors import HydraException

    try:
        parsed = OverridesParser.create().parse_overrides(list(overrides))
    except HydraException as exc:
        raise UsageError(f"cannot parse the overrides {list(overrides)}: {exc}") from None
    groups = _config_groups()
    for ov in parsed:
        key, line = ov.key_or_group, ov.input_line
        if key == "hydra" or key.startswith(("hydra.", "hydra/")) or _is_new_run_key(key):
            continue
        if ov.is_sweep_override():
            raise UsageError(f"{line}: a sweep cannot be applied to one resumed run")
        if key in groups:
            path = (ov.package or key).replace("/", ".")
            node = _raw(fresh, path)
            if ov.package == "_global_" or node is _ABSENT:
                raise UsageError(
                    f"{line}: the {key} group sets keys across the whole config and cannot be "
                    f"applied to a resumed run; give the keys it should change, or start a new "
                    f"run from its weights with init_from={ckpt_path}")
            if ov.is_delete():
                _delete(eff, path, line)
            else:  # the option's section as a new run would get it, not merged into the old one
                OmegaConf.update(eff, path, node, merge=False, force_add=True)
            continue
        exists = OmegaConf.select(eff, key, default=_ABSENT,
                                  throw_on_resolution_failure=False) is not _ABSENT
        if ov.is_delete():
            _delete(eff, key, line)
        elif ov.is_add() and exists:
            raise UsageError(f"{line}: {key} is already in the config of the run being resumed "
                             f"(set it with {key}=..., or force with ++{key}=...)")
        elif not exists and not (ov.is_add() or ov.is_force_add()):
            raise UsageError(f"{line}: no key {key} in the config of the run being resumed "
                             f"({ckpt_path}){_did_you_mean(eff, key)}")
        else:
            OmegaConf.update(eff, key, ov.value(), merge=True, force_add=True)


def _did_you_mean(cfg: DictConfig, key: str) -> str:
    paths = [p for p, _ in _leaves(OmegaConf.to_container(cfg, resolve=False))]
    close = difflib.get_close_matches(key, paths, n=1)
    return f"; did you mean {close[0]}?" if close else ""


def _delete(cfg: DictConfig, key: str, line: str) -> None:
    parent_path, _, last = key.rpartition(".")
    parent = OmegaConf.select(cfg, parent_path) if parent_path else cfg
    if not isinstance(parent, DictConfig) or last not in parent:
        raise UsageError(f"{line}: no key {key} to delete in the config of the run being resumed")
    with open_dict(parent):
        del parent[last]


def _fmt(value: Any) -> str:
    """A value as the diff prints it: YAML's spelling for scalars, JSON for containers."""
    if value is _ABSENT:
        return "(absent)"
    if value is None or isinstance(value, bool):
        return json.dumps(value)  # null, true, false
    if isinstance(value, str):
        return value if value else '""'
    if isinstance(value, float):
        return str(value)  # 0.001, inf
    return json.dumps(value) if isinstance(value, list | dict) else str(value)


def config_diff(before: DictConfig, after: DictConfig) -> list[str]:
    """``resume: <key>: <before> -> <after>`` for every resolved value that differs
    (the new run's own keys, :data:`_NEW_RUN_KEYS`, left out), sorted by key."""
    try:
        a = dict(_leaves(OmegaConf.to_container(before, resolve=True)))
        b = dict(_leaves(OmegaConf.to_container(after, resolve=True)))
    except Exception as exc:  # noqa: BLE001 - a value that does not resolve
        raise ConfigError(f"the resumed run's config does not resolve: {exc}") from exc
    keys = sorted(k for k in a.keys() | b.keys() if not _is_new_run_key(k))
    return [f"resume: {k}: {_fmt(a.get(k, _ABSENT))} -> {_fmt(b.get(k, _ABSENT))}"
            for k in keys if a.get(k, _ABSENT) != b.get(k, _ABSENT)]


def resume_config(cfg: DictConfig, ckpt_path: str, stored: DictConfig,
                  overrides: Sequence[str] | None) -> DictConfig:
    """The config a resumed run trains with (docs/experiments.md, "Resuming a run").

    ``stored`` (the checkpoint's config), plus the sections today's config has that it
    lacks (written by an older molediff), derived values that follow their source again
    (:func:`_restore_interpolations`), then ``overrides`` (the ones typed; values and
    group options as composed in ``cfg``), then the new run's ``ckpt_path``,
    ``paths.output_dir`` and ``init_from`` from ``cfg``. ``overrides=None``: ``cfg`` as
    given (an in-process caller that composed the whole config itself).
    """
    if overrides is None:
        eff = copy.deepcopy(cfg)
    else:
        fresh = OmegaConf.to_container(cfg, resolve=False)
        assert isinstance(fresh, dict)
        container = OmegaConf.to_container(stored, resolve=False)
        assert isinstance(container, dict)
        for key, node in fresh.items():
            if key not in container and key != "hydra":
                container[key] = node
        eff = OmegaConf.create(container)
        _restore_interpolations(eff, fresh)
        _apply_overrides(eff, fresh, overrides, ckpt_path)
    out = OmegaConf.select(cfg, "paths.output_dir")  # resolved: under Hydra, this job's dir
    with open_dict(eff):
        OmegaConf.update(eff, "paths.output_dir", out, merge=False, force_add=True)
        eff.ckpt_path = ckpt_path
        eff.init_from = cfg.get("init_from")
        eff.resume_overrides = None
    OmegaConf.set_struct(eff, True)  # like a composed config: a misspelt read fails loudly
    return eff


def _run_config(cfg: DictConfig) -> tuple[DictConfig, DictConfig | None, str | None]:
    """``(config to train with, stored config, stored domain name)``, validated; the last
    two are ``None`` unless resuming.

    For a resume (``ckpt_path``) the config comes from :func:`resume_config` and the
    differences from the stored one are printed to stderr; nothing is built yet.
    """
    ckpt_path = cfg.get("ckpt_path")
    if cfg.get("init_from") and ckpt_path:
        raise ConfigError("give ckpt_path (resume a run) or init_from (fine-tune from its "
                          "weights), not both")
    stored, stored_domain = None, None
    if ckpt_path:
        ckpt_path = str(Path(ckpt_path).expanduser().resolve())
        ckpt = load_checkpoint(ckpt_path)  # missing, damaged, newer format: fail before any work
        stored, stored_domain = checkpoint_config(ckpt), ckpt[META_KEY].get("domain")
        del ckpt  # Lightning reads the file again for the full training state
        cfg = resume_config(cfg, ckpt_path, stored, _typed_overrides(cfg))
    validate_numbers(cfg)
    if stored is not None and rank_zero_only.rank == 0:  # once, not once per DDP rank
        lines = config_diff(stored, cfg) or ["resume: config as stored"]
        print("\n".join(lines), file=sys.stderr, flush=True)
    return cfg, stored, stored_domain


def _section(cfg: DictConfig | None, key: str) -> Any:
    node = None if cfg is None else OmegaConf.select(cfg, key, default=None)
    return OmegaConf.to_container(node, resolve=True) if isinstance(node, DictConfig) else node


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
    cfg, stored, stored_domain = _run_config(cfg)
    prepare_job(cfg)
    set_threads(cfg)
    out = Path(cfg.paths.output_dir)
    domain = build_domain(cfg)
    ckpt_path = cfg.get("ckpt_path")
    if ckpt_path and stored_domain != domain.name:
        raise CheckpointError(f"checkpoint {ckpt_path} was trained on domain {stored_domain!r}, "
                              f"not {domain.name!r}")
    L.seed_everything(int(cfg.seed), workers=True, verbose=False)
    comps = build_components(cfg, domain)
    domain.setup()
    for key, value in domain.config_entries().items():
        OmegaConf.update(cfg, f"domain.{key}", value, force_add=True)
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
    loggers = [instantiate(c, what=f"logger {k}") for k, c in (cfg.get("logger") or {}).items()]
    callbacks = build_callbacks(cfg.get("callbacks"), {
        "schedule": comps.schedule, "sampler": comps.sampler, "guidance": comps.guidance,
        "dirpath": ckpt_dir, "loggers": loggers,
    })
    if stored is not None and any(_section(stored, k) != _section(cfg, k)
                                  for k in ("optim", "lr_scheduler")):
        # the checkpoint's optimizer / scheduler state would bring back the stored settings
        callbacks.append(ResumeOptimizerConfig(_section(cfg, "optim"),
                                               _section(cfg, "lr_scheduler")))
    trainer: L.Trainer = instantiate(
        cfg.trainer,
        what="trainer",
        callbacks=callbacks,
        logger=loggers or False,
        # with callbacks=none Lightning would add its own per-epoch ModelCheckpoint
        enable_checkpointing=any(isinstance(c, ModelCheckpoint) for c in callbacks),
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
    written = sorted(str(p.relative_to(out)) for p in out.rglob("*")
                     if p.is_file() and ".hydra" not in p.parts)
    print(f"[molediff] trained {domain.name} for {result['global_step']} steps in "
          f"{train_seconds:.0f} s; wrote {out}: {', '.join(written)}", file=sys.stderr, flush=True)
    return result
