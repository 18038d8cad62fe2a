"""Resuming a run continues it with its OWN config: ``molediff train ckpt_path=<ckpt>``
restores the stored settings (steps, learning rate, EMA decay, checkpoint interval, ...),
applies only the overrides typed with it, prints what differs, and refuses a misspelt or
mistyped override before any training (docs/experiments.md, "Resuming a run")."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from omegaconf import open_dict

from molediff.cli.testing import QUICK, quick_train_config, run_cli
from molediff.inference.checkpoint import checkpoint_config, load_checkpoint
from molediff.train.run import train
from molediff.utils.errors import UsageError
from molediff.utils.torchfile import load_file

#: a digits run whose settings all differ from the defaults (500 steps, lr 1e-3, EMA 0.999,
#: a checkpoint every 500 steps keeping 1); its step-8 checkpoint stands for an interrupted run
RUN = (*QUICK, "trainer.max_steps=12", "optim.lr=0.004", "ema.decay=0.99",
       "checkpoint.every_n_steps=4", "checkpoint.save_top_k=-1", "sampling.num_samples=0")


@pytest.fixture(scope="module")
def base(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("base")
    assert train(quick_train_config(out, *RUN))["global_step"] == 12
    assert (out / "checkpoints" / "step0000008.ckpt").is_file()
    return out


def _resume(out: Path, ckpt: Path, *overrides: str, compose: bool = True) -> dict:
    """In-process resume with the typed ``overrides`` (what Hydra's command line gives);
    ``compose=False``: only listed, so that ``train`` itself meets a bad one (Hydra would
    refuse a misspelt key while composing)."""
    cfg = quick_train_config(out, f"ckpt_path={ckpt}", *(overrides if compose else ()))
    with open_dict(cfg):
        cfg.resume_overrides = [f"ckpt_path={ckpt}", *overrides]
    return train(cfg)


def _resume_lines(text: str) -> list[str]:
    return [line for line in text.splitlines() if line.startswith("resume:")]


def test_ckpt_path_alone_resumes_with_the_runs_own_config(base, tmp_path):
    """The user's bug: on the command line, with no other override, the run continues with
    its own max_steps, lr, EMA decay and checkpoint interval, not the defaults."""
    out = tmp_path / "resumed"
    proc = run_cli("molediff.cli.main", ["train", f"ckpt_path={base / 'checkpoints' / 'step0000008.ckpt'}",
                                         f"hydra.run.dir={out}"], cwd=tmp_path, timeout=120)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert _resume_lines(proc.stderr) == ["resume: config as stored"]
    assert json.loads((out / "metrics.json").read_text())["global_step"] == 12
    stored = checkpoint_config(load_checkpoint(out / "checkpoints" / "last.ckpt"))
    assert stored.trainer.max_steps == 12 and stored.optim.lr == 0.004
    assert stored.ema.decay == 0.99 and stored.checkpoint.every_n_steps == 4
    assert stored.paths.output_dir == str(out) and stored.logger == {}
    # its checkpoint interval (4, not 500) and keep-all setting
    assert (out / "checkpoints" / "step0000012.ckpt").is_file()
    # and exactly the uninterrupted run: same weights and EMA (decay 0.99, not 0.999)
    a = load_file(base / "checkpoints" / "last.ckpt")["state_dict"]
    b = load_file(out / "checkpoints" / "last.ckpt")["state_dict"]
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def test_one_override_prints_one_diff_line(base, tmp_path, capsys):
    ckpt = base / "checkpoints" / "last.ckpt"
    result = _resume(tmp_path / "ema", ckpt, "ema.decay=0.95")
    assert _resume_lines(capsys.readouterr().err) == ["resume: ema.decay: 0.99 -> 0.95"]
    assert result["global_step"] == 12  # nothing left to train: its own max_steps
    stored = checkpoint_config(load_checkpoint(tmp_path / "ema" / "checkpoints" / "last.ckpt"))
    assert stored.ema.decay == 0.95 and stored.optim.lr == 0.004 and stored.trainer.max_steps == 12
    # a value derived from the overridden one moves with it, and the diff says so
    result = _resume(tmp_path / "longer", ckpt, "trainer.max_steps=14")
    assert _resume_lines(capsys.readouterr().err) == [
        "resume: lr_scheduler.total_steps: 12 -> 14", "resume: trainer.max_steps: 12 -> 14"]
    assert result["global_step"] == 14


def test_optimizer_overrides_hold_after_the_restore(base, tmp_path, capsys):
    """Lightning restores the optimizer's and scheduler's hyperparameters from the
    checkpoint; a typed optim.lr must win over them."""
    _resume(tmp_path / "lr", base / "checkpoints" / "step0000008.ckpt", "optim.lr=0.002")
    assert _resume_lines(capsys.readouterr().err) == ["resume: optim.lr: 0.004 -> 0.002"]
    ckpt = load_file(tmp_path / "lr" / "checkpoints" / "last.ckpt")
    assert ckpt["global_step"] == 12
    assert ckpt["optimizer_states"][0]["param_groups"][0]["initial_lr"] == 0.002
    assert ckpt["lr_schedulers"][0]["base_lrs"] == [0.002]


def test_bad_overrides_fail_before_any_training(base, tmp_path):
    ckpt = base / "checkpoints" / "last.ckpt"
    out = tmp_path / "typo"
    with pytest.raises(UsageError, match=r"no key trainer\.max_step .*did you mean trainer\.max_steps"):
        _resume(out, ckpt, "trainer.max_step=3", compose=False)
    with pytest.raises(UsageError, match=r"trainer\.max_steps must be an integer, got 'abc'"):
        _resume(out, ckpt, "trainer.max_steps=abc")
    with pytest.raises(UsageError, match="experiment group sets keys across the whole config"):
        _resume(out, ckpt, "experiment=digits_small")
    assert not out.exists()
    # a new run too: the key and the type, in one line
    with pytest.raises(UsageError, match=r"^optim\.lr must be a number, got 'fast'$"):
        train(quick_train_config(out, "optim.lr=fast"))
    assert not out.exists()


def test_cli_type_error_and_typo_name_the_key(base, tmp_path):
    proc = run_cli("molediff.cli.main", ["train", "trainer.max_steps=abc",
                                         f"hydra.run.dir={tmp_path / 'abc'}"], cwd=tmp_path)
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines()[-1] == (
        "molediff: error: trainer.max_steps must be an integer, got 'abc'")
    assert not (tmp_path / "abc").exists()
    # a misspelt key on resume: Hydra refuses it while composing, naming it
    proc = run_cli("molediff.cli.main", ["train", f"ckpt_path={base / 'checkpoints' / 'last.ckpt'}",
                                         "trainer.max_step=3", f"hydra.run.dir={tmp_path / 'typo'}"],
                   cwd=tmp_path)
    assert proc.returncode != 0 and "trainer.max_step" in proc.stderr
    assert not (tmp_path / "typo" / "checkpoints").exists()
