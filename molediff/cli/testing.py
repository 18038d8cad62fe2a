"""Helpers for tests (and notebooks) that run the engine in-process with tiny budgets."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

from hydra import compose, initialize_config_dir
from omegaconf import DictConfig, open_dict

from molediff.utils.config import CONFIG_DIR

#: overrides that make a training run take seconds on a CPU
QUICK = (
    "logger=none",
    "torch_threads=1",
    "trainer.enable_progress_bar=false",
    "trainer.max_steps=6",
    "trainer.val_check_interval=1000000",
    "checkpoint.every_n_steps=0",
    "sampling.num_samples=20",
    "sampler.steps=4",
    "data.batch_size=64",
    "lr_scheduler.warmup_steps=1",
)


def compose_config(
    name: str, overrides: Sequence[str] = (), output_dir: str | Path | None = None
) -> DictConfig:
    """Compose ``conf/<name>.yaml`` with ``overrides``; set ``paths.output_dir``."""
    with initialize_config_dir(config_dir=CONFIG_DIR, version_base="1.3"):
        cfg = compose(name, overrides=list(overrides))
    if output_dir is not None:
        with open_dict(cfg):
            cfg.paths.output_dir = str(output_dir)
    return cfg


def quick_train_config(output_dir: str | Path, *overrides: str) -> DictConfig:
    """A digits training config that runs in seconds (``QUICK`` + ``overrides``)."""
    return compose_config("train", [*QUICK, *overrides], output_dir)


def run_cli(
    module: str, args: Sequence[str], cwd: str | Path, timeout: float = 300, env: dict | None = None
) -> subprocess.CompletedProcess:
    """``python -m <module> <args>`` in a subprocess with one intra-op thread."""
    full_env = os.environ | {"OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "PYTHONUNBUFFERED": "1"}
    full_env |= env or {}
    return subprocess.run(
        [sys.executable, "-m", module, *args],
        cwd=cwd, env=full_env, capture_output=True, text=True, timeout=timeout,
    )
