"""Shared plumbing of the Hydra entry points: where ``conf/`` is, and how user errors
are reported (one line on stderr, exit status 2, no half-written run directory)."""

from __future__ import annotations

import os
import shutil
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from omegaconf import DictConfig

from molediff.utils.errors import MolediffError

#: the repository's ``conf/`` (override with MOLEDIFF_CONFIG_DIR, or add a directory with
#: Hydra's ``--config-dir``)
CONFIG_DIR = os.environ.get(
    "MOLEDIFF_CONFIG_DIR", str(Path(__file__).resolve().parents[2] / "conf")
)


def _only_hydra_files(out: Path) -> bool:
    return out.is_dir() and all(p.name == ".hydra" or p.suffix == ".log" for p in out.iterdir())


def run_task(task: Callable[[DictConfig], Any], cfg: DictConfig) -> Any:
    """Run ``task(cfg)``. A :class:`MolediffError` in a single run prints
    ``molediff: error: <message>``, removes the run directory if nothing but Hydra's own
    files were written, and exits with status 2; in a sweep it propagates (the job fails,
    the sweep reports it)."""
    from molediff.train.launch import hydra_job

    try:
        return task(cfg)
    except MolediffError as exc:
        job = hydra_job()
        if job is not None and job["mode"] == "multirun":
            raise
        if job is not None:
            out = Path(job["output_dir"])
            if _only_hydra_files(out):
                shutil.rmtree(out, ignore_errors=True)
        print(f"molediff: error: {exc}", file=sys.stderr, flush=True)
        sys.exit(2)
