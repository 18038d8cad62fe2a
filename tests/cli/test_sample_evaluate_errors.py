"""Sampling and evaluation from a checkpoint (no training options retyped) and the bad
inputs: each gives one clear message, a non-zero exit and no half-written outputs."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from molediff.cli.main import COMMANDS, build_parser, register
from molediff.utils.torchfile import load_file, save_file


def test_sample_uses_saved_config_and_overrides(cli, trained_ckpt, tmp_path):
    out = tmp_path / "s1"
    code, err = cli("sample", f"ckpt_path={trained_ckpt}", f"hydra.run.dir={out}", "num_samples=20",
                    "sampler=euler", "steps=3", "torch_threads=1")
    assert code == 0, err
    m = json.loads((out / "metrics.json").read_text())
    assert m["sampler"] == "euler" and m["steps"] == 3 and m["nfe"] == 3 and m["trained_steps"] == 20
    assert m["num_samples"] == 20 and np.isfinite(m["fd_pixel"]) and 0 <= m["accuracy"] <= 1
    assert (out / "samples.png").stat().st_size > 0
    assert (out / "config_used.yaml").read_text().count("DigitsMLP") == 1
    assert not list(out.glob(".partial-*"))
    # same seed -> same samples
    out2 = tmp_path / "s2"
    assert cli("sample", f"ckpt_path={trained_ckpt}", f"hydra.run.dir={out2}", "num_samples=20",
               "sampler=euler", "steps=3")[0] == 0
    a, b = np.load(out / "samples.npz"), np.load(out2 / "samples.npz")
    assert np.array_equal(a["images"], b["images"]) and list(a["labels"][:3]) == [0, 1, 2]


def test_evaluate_writes_metrics(cli, trained_ckpt, tmp_path):
    out = tmp_path / "e"
    code, err = cli("evaluate", f"ckpt_path={trained_ckpt}", f"hydra.run.dir={out}", "num_samples=20")
    assert code == 0, err
    m = json.loads((out / "metrics.json").read_text())
    assert 0 < m["val_x0_mse"] < 2 and m["sampler"] == "heun" and "sample_fd_pixel" in m


def test_typo_in_override(cli, tmp_path):
    out = tmp_path / "typo"
    code, err = cli("train", "trainer.max_step=3", f"hydra.run.dir={out}")
    assert code != 0 and "max_step" in err and "not in struct" in err
    assert not out.exists()


def test_missing_checkpoint(cli, tmp_path):
    out = tmp_path / "missing"
    code, err = cli("sample", f"ckpt_path={tmp_path / 'nope.ckpt'}", f"hydra.run.dir={out}")
    assert code == 2 and "checkpoint not found" in err and err.count("\n") == 1
    assert not out.exists()


def test_no_checkpoint_given(cli, tmp_path):
    code, err = cli("evaluate", f"hydra.run.dir={tmp_path / 'none'}")
    assert code == 2 and "ckpt_path=" in err


def test_corrupted_checkpoint(cli, trained_ckpt, tmp_path):
    bad = tmp_path / "bad.ckpt"
    bad.write_bytes(trained_ckpt.read_bytes()[: trained_ckpt.stat().st_size // 2])
    out = tmp_path / "corrupt"
    code, err = cli("sample", f"ckpt_path={bad}", f"hydra.run.dir={out}")
    assert code == 2 and "not a readable torch file" in err and err.count("\n") == 1
    assert not out.exists()


def test_checkpoint_from_another_domain(cli, trained_ckpt, tmp_path):
    out = tmp_path / "other"
    code, err = cli("sample", f"ckpt_path={trained_ckpt}", "expect_domain=molecules", f"hydra.run.dir={out}")
    assert code == 2 and "trained on domain 'digits', not 'molecules'" in err
    assert not out.exists()
    # resuming digits training from a conformer checkpoint
    ckpt = load_file(trained_ckpt)
    ckpt["molediff"]["domain"] = "conformers"
    foreign = save_file(ckpt, tmp_path / "conformers.ckpt")
    out = tmp_path / "resume"
    code, err = cli("train", f"ckpt_path={foreign}", f"hydra.run.dir={out}", "logger=none")
    assert code == 2 and "trained on domain 'conformers', not 'digits'" in err
    assert not out.exists()


def test_weights_that_do_not_fit(cli, trained_ckpt, tmp_path):
    ckpt = load_file(trained_ckpt)
    ckpt["molediff"]["config_yaml"] = ckpt["molediff"]["config_yaml"].replace("hidden: 256", "hidden: 32")
    odd = save_file(ckpt, tmp_path / "odd.ckpt")
    code, err = cli("sample", f"ckpt_path={odd}", f"hydra.run.dir={tmp_path / 'odd'}")
    assert code == 2 and "do not fit" in err


def test_dispatcher(cli, capsys):
    assert {"train", "sample", "evaluate", "collect-sweep"} <= set(COMMANDS)
    code, _ = cli("--help")
    assert code == 0
    code, err = cli("frobnicate")
    assert code == 2 and "invalid choice" in err
    register("hello", "molediff.cli.collect_sweep:main", "test")
    try:
        assert "hello" in build_parser().format_help()
        code, err = cli("hello", "/definitely/not/here")
        assert code == 2 and "no such sweep directory" in err
    finally:
        COMMANDS.pop("hello")


@pytest.mark.parametrize("use_ema", [True, False])
def test_checkpoint_has_both_weight_sets(trained_ckpt, use_ema):
    from molediff.inference.checkpoint import network_weights

    sd = network_weights(load_file(trained_ckpt), use_ema=use_ema)
    assert any(k.startswith("net.") for k in sd) and all(torch.isfinite(v).all() for v in sd.values())
