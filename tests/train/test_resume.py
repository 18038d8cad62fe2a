"""Interrupted + resumed training reproduces the uninterrupted run exactly."""

from __future__ import annotations

import torch

from molediff.cli.testing import quick_train_config
from molediff.train.run import train
from molediff.utils.torchfile import load_file

# 22 batches of 64 per epoch: checkpoints at steps 6 and 12 are mid-epoch; the run crosses
# an epoch boundary after the resume. The LR schedule length is fixed so both runs share it.
COMMON = ("checkpoint.every_n_steps=6", "lr_scheduler.total_steps=30", "sampling.num_samples=0",
          "trainer.val_check_interval=5", "data.limit_val_items=64")


def test_resume_matches_uninterrupted_run(tmp_path):
    train(quick_train_config(tmp_path / "full", "trainer.max_steps=26", *COMMON))
    first = train(quick_train_config(tmp_path / "part", "trainer.max_steps=12", *COMMON))
    assert first["global_step"] == 12
    ckpt = tmp_path / "part" / "checkpoints" / "last.ckpt"
    resumed = train(quick_train_config(tmp_path / "resumed", "trainer.max_steps=26",
                                       f"ckpt_path={ckpt}", *COMMON))
    assert resumed["global_step"] == 26
    a = load_file(tmp_path / "full" / "checkpoints" / "last.ckpt")
    b = load_file(tmp_path / "resumed" / "checkpoints" / "last.ckpt")
    assert a["global_step"] == b["global_step"] == 26
    assert a["state_dict"].keys() == b["state_dict"].keys()
    for k in a["state_dict"]:
        assert torch.equal(a["state_dict"][k], b["state_dict"][k]), k  # weights and EMA
    sa, sb = a["optimizer_states"][0]["state"], b["optimizer_states"][0]["state"]
    assert all(torch.equal(sa[i]["exp_avg_sq"], sb[i]["exp_avg_sq"]) for i in sa)
    # and the interrupted run really had diverged from the final weights
    p = load_file(ckpt)["state_dict"]
    assert not all(torch.equal(p[k], a["state_dict"][k]) for k in a["state_dict"])
    # the checkpoint carries its config (registry names, not module paths) and domain
    from molediff.inference.checkpoint import FORMAT_VERSION, checkpoint_config

    assert a["molediff"]["domain"] == "digits" and a["molediff"]["format"] == FORMAT_VERSION
    assert "_name_: model.digits_mlp" in a["molediff"]["config_yaml"]
    assert checkpoint_config(a).model._target_.endswith("DigitsMLP")


def test_sigkilled_run_resumes_exactly(tmp_path):
    """A training process killed with SIGKILL right after a checkpoint leaves a loadable
    checkpoint (atomic writes), and resuming from it reaches the uninterrupted weights."""
    import os
    import signal
    import subprocess
    import sys
    import time

    from molediff.cli.testing import QUICK

    train(quick_train_config(tmp_path / "full", "trainer.max_steps=26", *COMMON))
    out = tmp_path / "killed"
    args = [*QUICK, "trainer.max_steps=100000", *COMMON, f"hydra.run.dir={out}", f"paths.output_dir={out}"]
    env = os.environ | {"OMP_NUM_THREADS": "1"}
    proc = subprocess.Popen([sys.executable, "-m", "molediff.cli.train", *args], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    ckpt = out / "checkpoints" / "last.ckpt"
    deadline = time.monotonic() + 240
    step = 0
    try:
        while time.monotonic() < deadline and proc.poll() is None:
            if ckpt.exists():
                step = load_file(ckpt)["global_step"]
                if step >= 6:
                    break
            time.sleep(0.02)
        assert proc.poll() is None, proc.stderr.read().decode()[-2000:]
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    killed_at = load_file(ckpt)["global_step"]  # loads: never a half-written file
    assert 6 <= killed_at < 26, killed_at
    resumed = train(quick_train_config(tmp_path / "resumed", "trainer.max_steps=26",
                                       f"ckpt_path={ckpt}", *COMMON))
    assert resumed["global_step"] == 26
    a = load_file(tmp_path / "full" / "checkpoints" / "last.ckpt")["state_dict"]
    b = load_file(tmp_path / "resumed" / "checkpoints" / "last.ckpt")["state_dict"]
    for k in a:
        assert torch.equal(a[k], b[k]), k


def test_init_from_starts_from_weights_with_fresh_optimizer(tmp_path):
    import pytest

    from molediff.train.checkpoint import load_weights
    from molediff.utils.errors import CheckpointError, ConfigError

    train(quick_train_config(tmp_path / "base", "trainer.max_steps=8", *COMMON))
    base = tmp_path / "base" / "checkpoints" / "last.ckpt"
    ft = train(quick_train_config(tmp_path / "ft", "trainer.max_steps=0", f"init_from={base}",
                                  *COMMON))
    assert ft["global_step"] == 0  # a new run: step count starts again
    a = load_file(base)["state_dict"]
    b = load_file(tmp_path / "ft" / "checkpoints" / "last.ckpt")["state_dict"]
    assert a.keys() == b.keys()
    for k in a:
        if k != "ema.num_updates":
            assert torch.equal(a[k], b[k]), k  # weights and EMA carried over unchanged
    assert int(b["ema.num_updates"]) == 0 < int(a["ema.num_updates"])  # EMA warm-up restarts
    # fine-tuning then moves them, from the carried-over start
    train(quick_train_config(tmp_path / "ft2", "trainer.max_steps=3", f"init_from={base}", *COMMON))
    c = load_file(tmp_path / "ft2" / "checkpoints" / "last.ckpt")
    assert c["global_step"] == 3
    assert not any(torch.equal(a[k], c["state_dict"][k]) for k in a if k.startswith("denoiser."))
    # resuming and fine-tuning at once is ambiguous
    with pytest.raises(ConfigError, match="not both"):
        train(quick_train_config(tmp_path / "both", f"ckpt_path={base}", f"init_from={base}",
                                 *COMMON))
    # weights of another architecture: one clear error
    from molediff.inference.builders import build_components
    from molediff.train.module import DiffusionModule

    cfg = quick_train_config(tmp_path / "wide", "model.hidden=17")
    comps = build_components(cfg)
    module = DiffusionModule(comps.domain, comps.denoiser, optimizer=cfg.optim)
    with pytest.raises(CheckpointError, match="do not fit"):
        load_weights(module, base)
