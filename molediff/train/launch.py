"""How a Hydra job meets Lightning's process model.

- **joblib sweeps**: each job runs in a loky worker. When several GPUs are visible, job
  ``k`` is pinned to GPU ``k mod n`` (by setting the trainer's ``devices=[i]``; this
  works even in a reused worker where CUDA is already initialised, unlike changing
  ``CUDA_VISIBLE_DEVICES``). Lightning DDP cannot run there (its launcher re-executes the
  worker's own command line), so a DDP job under joblib stops with a clear error.
- **basic-launcher sweeps**: Lightning's DDP launcher re-runs ``sys.argv`` for the other
  ranks, which for a sweep is the whole ``-m`` command line. Before the trainer starts,
  the job's command line is rewritten to a single run of this job's overrides in this
  job's output directory, so rank 1.. join the right job.
"""

from __future__ import annotations

import os
import sys
from typing import Any

from omegaconf import DictConfig, open_dict, read_write

from molediff.utils.errors import ConfigError

_FLAGS_WITH_VALUE = {"-cp", "--config-path", "-cn", "--config-name", "-cd", "--config-dir"}


def hydra_job() -> dict[str, Any] | None:
    """``{"mode", "num", "launcher", "output_dir", "overrides"}`` of the running Hydra job,
    or ``None`` outside Hydra."""
    try:
        from hydra.core.hydra_config import HydraConfig
        from hydra.types import RunMode
    except ImportError:  # pragma: no cover
        return None
    if not HydraConfig.initialized():
        return None
    hc = HydraConfig.get()
    launcher = str(hc.launcher.get("_target_", "")) if hc.get("launcher") else ""
    return {
        "mode": "multirun" if hc.mode == RunMode.MULTIRUN else "run",
        "num": int(hc.job.get("num", 0) or 0),
        "launcher": launcher,
        "output_dir": hc.runtime.output_dir,
        "overrides": list(hc.overrides.task),
    }


def wants_ddp(trainer_cfg: DictConfig) -> bool:
    """Whether the trainer config asks for a DDP-family strategy."""
    return "ddp" in str(trainer_cfg.get("strategy", "")).lower()


def is_joblib(job: dict[str, Any] | None) -> bool:
    return bool(job) and job["mode"] == "multirun" and "joblib" in job["launcher"].lower()


def visible_gpus() -> list[int]:
    """Indices (as seen by this process) of the visible CUDA devices."""
    try:
        import torch

        return list(range(torch.cuda.device_count()))
    except Exception:  # noqa: BLE001
        return []


def prepare_job(cfg: DictConfig) -> None:
    """Adapt ``cfg.trainer`` and the process to the launcher (see module docstring)."""
    job = hydra_job()
    if job is None or job["mode"] != "multirun":
        return
    if wants_ddp(cfg.trainer):
        if is_joblib(job):
            raise ConfigError(
                "Lightning DDP cannot run inside a joblib-launched job (its launcher re-executes "
                "the worker's command line). Use the basic launcher (drop hydra=joblib / "
                "hydra/launcher=joblib), or hydra=submitit_slurm on a cluster, or a single-device "
                "trainer (trainer=cpu / trainer=gpu) with joblib."
            )
        _single_run_argv(job)
        return
    if is_joblib(job) and str(cfg.trainer.get("accelerator", "")) in ("gpu", "cuda", "auto"):
        gpus = visible_gpus()
        if len(gpus) > 1:
            with open_dict(cfg):
                cfg.trainer.devices = [gpus[job["num"] % len(gpus)]]
            os.environ["MOLEDIFF_PINNED_GPU"] = str(cfg.trainer.devices[0])


def _single_run_argv(job: dict[str, Any]) -> None:
    """Rewrite ``sys.argv`` and ``hydra.run.dir`` so Lightning's DDP children re-run only
    this job, in this job's directory."""
    from hydra.core.hydra_config import HydraConfig

    keep: list[str] = []
    argv = sys.argv[1:]
    i = 0
    while i < len(argv):
        a = argv[i]
        if a in _FLAGS_WITH_VALUE and i + 1 < len(argv):
            keep += [a, argv[i + 1]]
            i += 2
            continue
        if a.split("=", 1)[0] in _FLAGS_WITH_VALUE:
            keep.append(a)
        i += 1
    sys.argv = [sys.argv[0], *keep, *job["overrides"]]
    hc = HydraConfig.get()
    with read_write(hc), open_dict(hc):
        hc.run.dir = job["output_dir"]
