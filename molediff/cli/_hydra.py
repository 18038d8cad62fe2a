"""Shared plumbing of the Hydra entry points: where ``conf/`` is, and how user errors
are reported (one line on stderr, exit status 2, no half-written run directory)."""

from __future__ import annotations

import shutil
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from omegaconf import DictConfig

from molediff.utils.config import CONFIG_DIR

__all__ = ["CONFIG_DIR", "run_task"]


def _only_hydra_files(out: Path) -> bool:
    return out.is_dir() and all(p.name == ".hydra" or p.suffix == ".log" for p in out.iterdir())


def run_task(task: Callable[[DictConfig], Any], cfg: DictConfig) -> Any:
    """Run ``task(cfg)``. In a single run, any failure removes the run directory if nothing
    but Hydra's own files were written and is reported like every other entry point
    (:func:`molediff.utils.entry.report_exception`: one line, exit 1 bad data / 2 bad
    usage / 130 Ctrl-C / 1 internal error); in a sweep an error propagates (the job fails,
    the sweep reports it)."""
    from molediff.train.launch import hydra_job
    from molediff.utils.entry import debug_enabled, report_exception

    try:
        return task(cfg)
    except (Exception, KeyboardInterrupt) as exc:
        job = hydra_job()
        if job is not None and job["mode"] == "multirun" and not isinstance(exc, KeyboardInterrupt):
            raise  # the job fails, the sweep reports it
        if job is not None:
            out = Path(job["output_dir"])
            if _only_hydra_files(out):
                shutil.rmtree(out, ignore_errors=True)
        sys.exit(report_exception("molediff", debug_enabled()))
