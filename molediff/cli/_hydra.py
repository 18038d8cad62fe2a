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
from molediff.utils.errors import MolediffError

__all__ = ["CONFIG_DIR", "run_task"]


def _only_hydra_files(out: Path) -> bool:
    return out.is_dir() and all(p.name == ".hydra" or p.suffix == ".log" for p in out.iterdir())


def run_task(task: Callable[[DictConfig], Any], cfg: DictConfig) -> Any:
    """Run ``task(cfg)``. A :class:`MolediffError` in a single run prints
    ``molediff: error: <message>`` (one line), removes the run directory if nothing but
    Hydra's own files were written, and exits with the error's status (1 bad data, 2 bad
    usage); in a sweep it propagates (the job fails, the sweep reports it). Ctrl-C removes
    such a directory too and exits 130."""
    from molediff.train.launch import hydra_job
    from molediff.utils.entry import debug_enabled, one_line

    try:
        return task(cfg)
    except (MolediffError, KeyboardInterrupt) as exc:
        job = hydra_job()
        if job is not None and job["mode"] == "multirun" and not isinstance(exc, KeyboardInterrupt):
            raise
        if job is not None:
            out = Path(job["output_dir"])
            if _only_hydra_files(out):
                shutil.rmtree(out, ignore_errors=True)
        if debug_enabled():
            raise
        if isinstance(exc, KeyboardInterrupt):
            print("molediff: interrupted; nothing written", file=sys.stderr, flush=True)
            sys.exit(130)
        print(f"molediff: error: {one_line(exc)}", file=sys.stderr, flush=True)
        sys.exit(exc.exit_code)
    except Exception as exc:  # a bug: one line (Hydra would print a traceback), unless asked
        job = hydra_job()
        if debug_enabled() or (job is not None and job["mode"] == "multirun"):
            raise
        print(f"molediff: internal error: {type(exc).__name__}: {one_line(exc)[:500]} "
              "(run with --debug or MOLEDIFF_DEBUG=1 for the traceback)", file=sys.stderr,
              flush=True)
        sys.exit(1)
