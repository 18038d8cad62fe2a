"""Real multiprocess runs: a joblib sweep, two-process CPU DDP, DDP refused under joblib."""

from __future__ import annotations

import json
import math

import pandas as pd
import pytest

from molediff.cli.testing import run_cli

QUICK = ["logger=none", "torch_threads=1", "trainer.max_steps=4", "trainer.enable_progress_bar=false",
         "checkpoint.every_n_steps=0", "sampling.num_samples=20", "sampler.steps=3",
         "data.batch_size=32", "data.limit_val_items=32", "lr_scheduler.warmup_steps=1"]


def test_joblib_sweep_two_samplers_by_two_schedules(tmp_path):
    sweep = tmp_path / "sweep"
    proc = run_cli("molediff.cli.train", ["-m", "hydra=joblib", "sampler=euler,dpmpp_2m",
                                          "schedule=karras,cosine", f"hydra.sweep.dir={sweep}", *QUICK],
                   cwd=tmp_path, timeout=240)
    assert proc.returncode == 0, proc.stderr[-3000:]
    table = pd.read_csv(sweep / "sweep.csv")
    assert len(table) == 4 and set(table["status"]) == {"ok"}
    pairs = set(zip(table["sampler"], table["schedule"], strict=True))
    assert pairs == {(a, b) for a in ("euler", "dpmpp_2m") for b in ("karras", "cosine")}
    for col in ("train_loss", "val_x0_mse", "sample_fd_pixel", "sample_accuracy"):
        assert all(math.isfinite(v) for v in table[col]), col
    assert (table["global_step"] == 4).all()
    # the sampler/schedule really reached each job: NFE differs by sampler only
    assert set(table["sample_nfe"]) == {3.0}
    assert (sweep / "sweep.md").read_text().count("| ok |") == 4
    assert (sweep / "sweep.png").stat().st_size > 1000
    for job in range(4):
        assert (sweep / str(job) / "checkpoints" / "last.ckpt").is_file()


def test_ddp_two_cpu_processes_end_with_identical_weights(tmp_path):
    out = tmp_path / "ddp"
    proc = run_cli("molediff.cli.train", ["trainer=ddp", "trainer.devices=2", f"hydra.run.dir={out}",
                                          *QUICK], cwd=tmp_path, timeout=120)
    assert proc.returncode == 0, proc.stderr[-3000:]
    ranks = [json.loads((out / "ddp" / f"rank{r}.json").read_text()) for r in (0, 1)]
    assert [r["world_size"] for r in ranks] == [2, 2] and [r["global_step"] for r in ranks] == [4, 4]
    assert ranks[0]["denoiser_sha256"] == ranks[1]["denoiser_sha256"]
    assert ranks[0]["ema_sha256"] == ranks[1]["ema_sha256"]
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["global_step"] == 4 and math.isfinite(metrics["train_loss"])


def test_ddp_guard_in_a_joblib_job(tmp_path, monkeypatch):
    """The guard itself, in-process: a joblib multirun job asking for DDP is refused, a
    single-device one is pinned to a GPU by job number when several are visible."""
    from molediff.cli.testing import compose_config
    from molediff.train import launch
    from molediff.utils.errors import ConfigError

    job = {"mode": "multirun", "num": 3, "launcher": "hydra_plugins.hydra_joblib_launcher.joblib_launcher.JoblibLauncher",
           "output_dir": str(tmp_path), "overrides": []}
    monkeypatch.setattr(launch, "hydra_job", lambda: job)
    cfg = compose_config("train", ["trainer=ddp"], tmp_path)
    with pytest.raises(ConfigError, match="Lightning DDP cannot run inside a joblib-launched job"):
        launch.prepare_job(cfg)
    cfg = compose_config("train", ["trainer=gpu"], tmp_path)
    monkeypatch.setattr(launch, "visible_gpus", lambda: [0, 1])
    launch.prepare_job(cfg)
    assert list(cfg.trainer.devices) == [1]


@pytest.mark.slow
def test_ddp_under_joblib_is_a_clear_error(tmp_path):
    sweep = tmp_path / "bad"
    proc = run_cli("molediff.cli.train", ["-m", "hydra=joblib", "trainer=ddp", "seed=0,1",
                                          f"hydra.sweep.dir={sweep}", *QUICK], cwd=tmp_path, timeout=120)
    assert proc.returncode != 0
    assert "Lightning DDP cannot run inside a joblib-launched job" in proc.stderr
    assert not list(sweep.glob("*/metrics.json")) and not list(sweep.glob("*/checkpoints"))


@pytest.mark.slow
def test_ddp_jobs_under_the_basic_launcher(tmp_path):
    """Each job of a basic-launcher sweep runs two DDP ranks in its own directory."""
    sweep = tmp_path / "sweep"
    proc = run_cli("molediff.cli.train", ["-m", "trainer=ddp", "trainer.devices=2", "seed=0,1",
                                          f"hydra.sweep.dir={sweep}", *QUICK], cwd=tmp_path, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    for job in ("0", "1"):
        ranks = [json.loads((sweep / job / "ddp" / f"rank{r}.json").read_text()) for r in (0, 1)]
        assert ranks[0]["denoiser_sha256"] == ranks[1]["denoiser_sha256"]
    assert len(pd.read_csv(sweep / "sweep.csv")) == 2
    assert not (tmp_path / "outputs").exists()  # no rank wandered into a new run directory
