"""The config groups built for training: ``callbacks`` and ``optim`` compose and build,
every group option composes, and moving the experiments onto ``model: egnn`` (stating only
what differs from conf/model/egnn.yaml) left every experiment's model as it was."""

from __future__ import annotations

import importlib.util
import inspect
from pathlib import Path
from typing import Any

import pytest
import torch
from lightning.pytorch.callbacks import LearningRateMonitor, ModelCheckpoint
from omegaconf import OmegaConf

from molediff.cli.testing import compose_config
from molediff.inference.builders import build_components
from molediff.nn.egnn import EGNN
from molediff.train.callbacks import SampleMetricsCallback, build_callbacks
from molediff.utils.config import CONFIG_DIR
from molediff.utils.errors import ConfigError
from molediff.utils.instantiate import instantiate

CONF = Path(CONFIG_DIR)
OPTIONS = [(g.name, f.stem) for g in sorted(CONF.iterdir()) if g.is_dir()
           for f in sorted(g.glob("*.yaml"))]
HAS_SUBMITIT = importlib.util.find_spec("hydra_plugins.hydra_submitit_launcher") is not None

_EGNN = "molediff.nn.egnn.EGNN"
_EGNN_COMMON = {"_target_": _EGNN, "aggregation": "sum", "attention": True, "coords_range": 15.0,
                "distance_scale": 1.0, "edges": "full", "initial_distances": True,
                "norm_constant": 1.0, "tanh": True}
#: each experiment's resolved ``model`` section, composed before the experiments were
#: rewritten on top of conf/model/egnn.yaml (configuration facts, not model outputs)
MODEL_BEFORE: dict[str, dict[str, Any]] = {
    "conformers_qm9_cpu": _EGNN_COMMON | {"hidden": 96, "layers": 4, "normalization_factor": 8.0},
    "conformers_qm9_gpu": _EGNN_COMMON | {"hidden": 256, "layers": 9, "normalization_factor": 8.0},
    "digits_small": {"_target_": "molediff.domains.digits.model.DigitsMLP", "depth": 3,
                     "emb_dim": 128, "hidden": 256},
    "digits_unet": {"_target_": "molediff.nn.unet.UNet", "base_channels": 32,
                    "channel_mults": [1, 2], "emb_dim": 128, "num_res_blocks": 1},
    "molecules_qm9_cond": _EGNN_COMMON | {"hidden": 96, "layers": 4, "normalization_factor": 8.0},
    "molecules_qm9_cpu": _EGNN_COMMON | {"hidden": 96, "layers": 4, "normalization_factor": 8.0},
    "molecules_qm9_gpu": _EGNN_COMMON | {"hidden": 256, "layers": 9, "normalization_factor": 1.0},
}
#: their ``optim`` section before it became a group (only the learning rate varied)
LR_BEFORE = {"conformers_qm9_cpu": 1e-3, "conformers_qm9_gpu": 5e-4, "digits_small": 2e-3,
             "digits_unet": 1e-3, "molecules_qm9_cond": 1e-3, "molecules_qm9_cpu": 1e-3,
             "molecules_qm9_gpu": 1e-4}
OPTIM_BEFORE = {"_target_": "torch.optim.AdamW", "betas": [0.9, 0.999], "weight_decay": 0.0}
#: keys the EGNN experiments gained from conf/model/egnn.yaml (deliberately: now stated)
EGNN_ADDED = {"in_features", "cond_features", "vector_channels", "cutoff", "k", "edge_features",
              "sequence_neighbours", "graph_cond_features", "norm_diff", "mix_channels",
              "global_context"}


def test_every_rewritten_experiment_still_exists():
    # experiments added after the rewrite are checked by tests/train/test_configs.py
    assert set(MODEL_BEFORE) <= {f.stem for f in (CONF / "experiment").glob("*.yaml")}


@pytest.mark.parametrize("name", sorted(MODEL_BEFORE))
def test_experiment_model_and_optim_are_unchanged(name, tmp_path):
    cfg = compose_config("train", [f"experiment={name}"], tmp_path)
    model = OmegaConf.to_container(cfg.model, resolve=True)
    before = MODEL_BEFORE[name]
    assert {k: model[k] for k in before} == before
    added = set(model) - set(before)
    if before["_target_"] != _EGNN:
        assert not added
    else:
        # only egnn.yaml's keys were added, with its values; each one is either supplied by
        # the domain or EGNN's own default, so the network built is the same ...
        assert added == EGNN_ADDED
        egnn_yaml = OmegaConf.to_container(OmegaConf.load(CONF / "model" / "egnn.yaml"))
        assert {k: model[k] for k in added} == {k: egnn_yaml[k] for k in added}
        comps = build_components(cfg)
        supplied = comps.domain.net_kwargs()
        defaults = inspect.signature(EGNN).parameters
        for k in added - set(supplied):
            assert model[k] == defaults[k].default, k
        # ... which the weights confirm: same seed, same tensors
        torch.manual_seed(0)
        new = comps.domain.build_net(cfg.model)
        torch.manual_seed(0)
        old = comps.domain.build_net(OmegaConf.create(before))
        a, b = new.state_dict(), old.state_dict()
        assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    assert OmegaConf.to_container(cfg.optim) == OPTIM_BEFORE | {"lr": LR_BEFORE[name]}


@pytest.mark.parametrize(("group", "option"), OPTIONS, ids=[f"{g}={o}" for g, o in OPTIONS])
def test_every_group_option_composes(group, option, tmp_path):
    if group == "hydra" and option == "submitit_slurm" and not HAS_SUBMITIT:
        pytest.skip("hydra-submitit-launcher not installed (optional extra 'slurm')")
    cfg = compose_config("train", [f"{group}={option}"], tmp_path)
    resolved = OmegaConf.to_container(cfg, resolve=True)
    # the sections other code and the stored checkpoints rely on are all there
    for key in ("optim", "lr_scheduler", "ema", "checkpoint", "sampling", "callbacks", "data"):
        assert key in resolved, key


@pytest.mark.parametrize("option", sorted(f.stem for f in (CONF / "optim").glob("*.yaml")))
def test_optim_options_build_their_optimizer(option, tmp_path):
    cfg = compose_config("train", [f"optim={option}", "optim.lr=3e-4"], tmp_path)
    opt = instantiate(cfg.optim, params=[torch.nn.Parameter(torch.zeros(2))])
    assert type(opt).__name__.lower() == option  # adamw -> AdamW, adam -> Adam
    assert opt.param_groups[0]["lr"] == 3e-4
    # the default, and what experiments set on top of it
    assert compose_config("train", [], tmp_path).optim._target_ == "torch.optim.AdamW"
    assert compose_config("train", ["experiment=digits_small", f"optim={option}"],
                          tmp_path).optim.lr == 2e-3


def _run_objects(cfg, tmp_path, loggers=()):
    comps = build_components(cfg)
    return {"schedule": comps.schedule, "sampler": comps.sampler, "guidance": comps.guidance,
            "dirpath": tmp_path / "checkpoints", "loggers": list(loggers)}


def test_default_callbacks_follow_checkpoint_and_sampling(tmp_path):
    cfg = compose_config("train", ["checkpoint.every_n_steps=7", "checkpoint.save_top_k=3",
                                   "sampling.every_n_steps=5", "sampling.num_samples=9"], tmp_path)
    run = _run_objects(cfg, tmp_path)
    ckpt, sample = build_callbacks(cfg.callbacks, run)  # no logger: no LR monitor
    assert isinstance(ckpt, ModelCheckpoint) and isinstance(sample, SampleMetricsCallback)
    assert ckpt._every_n_train_steps == 7 and ckpt.save_top_k == 3 and ckpt.save_last
    assert Path(ckpt.dirpath) == tmp_path / "checkpoints"
    assert sample.every_n_steps == 5 and sample.num_samples == 9
    assert sample.schedule is run["schedule"] and sample.sampler is run["sampler"]
    with_logger = build_callbacks(cfg.callbacks, _run_objects(cfg, tmp_path, loggers=[object()]))
    assert isinstance(with_logger[-1], LearningRateMonitor) and len(with_logger) == 3
    # every_n_steps=0: last.ckpt only
    cfg = compose_config("train", ["checkpoint.every_n_steps=0"], tmp_path)
    ckpt = build_callbacks(cfg.callbacks, run)[0]
    assert ckpt._every_n_train_steps == 0 and ckpt.save_top_k == 0 and ckpt.save_last


def test_callbacks_none_and_dropping_one(tmp_path):
    cfg = compose_config("train", ["callbacks=none"], tmp_path)
    assert build_callbacks(cfg.callbacks, _run_objects(cfg, tmp_path)) == []
    cfg = compose_config("train", ["callbacks.sample_metrics=null"], tmp_path)
    built = build_callbacks(cfg.callbacks, _run_objects(cfg, tmp_path))
    assert [type(c) for c in built] == [ModelCheckpoint]
    with pytest.raises(ConfigError, match="callback broken"):
        build_callbacks({"broken": {"_target_": "no.such.Callback"}}, {})
    with pytest.raises(ConfigError, match="not a Lightning Callback"):
        build_callbacks({"odd": {"_target_": "builtins.dict"}}, {})


def test_checkpoint_settings_in_a_run(tmp_path):
    """save_top_k > 1 keeps the newest periodic checkpoints (conformers_qm9_gpu keeps 2);
    callbacks=none leaves only last.ckpt (Lightning adds no checkpoint callback of its own)."""
    from molediff.cli.testing import quick_train_config
    from molediff.train.run import train

    train(quick_train_config(tmp_path / "k2", "trainer.max_steps=8", "checkpoint.every_n_steps=2",
                             "checkpoint.save_top_k=2", "sampling.num_samples=0"))
    assert sorted(p.name for p in (tmp_path / "k2" / "checkpoints").iterdir()) == [
        "last.ckpt", "step0000006.ckpt", "step0000008.ckpt"]
    train(quick_train_config(tmp_path / "none", "trainer.max_steps=4", "callbacks=none",
                             "checkpoint.every_n_steps=2", "sampling.num_samples=0"))
    assert [p.name for p in (tmp_path / "none" / "checkpoints").iterdir()] == ["last.ckpt"]
