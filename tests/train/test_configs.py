"""Every config in conf/ composes and every group instantiates (options discovered from
the files, so groups added later by other modalities are covered too)."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest
import torch
from omegaconf import OmegaConf, open_dict

from molediff.cli.testing import compose_config
from molediff.core.denoisers import Denoiser
from molediff.core.samplers import SamplerSpec
from molediff.core.schedules import Schedule, check_sigmas
from molediff.domains.base import Domain
from molediff.inference.builders import build_components
from molediff.inference.guidance import Guidance
from molediff.utils.config import CONFIG_DIR
from molediff.utils.instantiate import instantiate

CONF = Path(CONFIG_DIR)
GROUPS = sorted(p.name for p in CONF.iterdir() if p.is_dir())
OPTIONS = [(g, f.stem) for g in GROUPS for f in sorted((CONF / g).glob("*.yaml"))]
HAS_SUBMITIT = importlib.util.find_spec("hydra_plugins.hydra_submitit_launcher") is not None


def test_layout_has_the_required_groups():
    required = {"domain", "model", "schedule", "parameterization", "sampler", "guidance",
                "trainer", "logger", "paths", "hydra", "experiment", "debug"}
    assert required <= set(GROUPS)
    for top in ("train", "sample", "evaluate"):
        assert (CONF / f"{top}.yaml").is_file()
    # one config per core schedule / parameterization / sampler
    from molediff.core.denoisers import PARAMETERIZATIONS
    from molediff.core.samplers import SAMPLERS
    from molediff.core.schedules import SCHEDULES

    assert set(SCHEDULES) <= {f.stem for f in (CONF / "schedule").glob("*.yaml")}
    assert set(PARAMETERIZATIONS) <= {f.stem for f in (CONF / "parameterization").glob("*.yaml")}
    assert set(SAMPLERS) <= {f.stem for f in (CONF / "sampler").glob("*.yaml")}


class _Net(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.w = torch.nn.Parameter(torch.zeros(()))

    def forward(self, x, c_noise, cond):
        return x * self.w


@pytest.mark.parametrize(("group", "option"), OPTIONS, ids=[f"{g}={o}" for g, o in OPTIONS])
def test_option_composes_and_instantiates(group: str, option: str, tmp_path):
    if group == "hydra" and option == "submitit_slurm" and not HAS_SUBMITIT:
        pytest.skip("hydra-submitit-launcher not installed (optional extra 'slurm')")
    if group == "hydra":
        from hydra import compose, initialize_config_dir

        with initialize_config_dir(config_dir=CONFIG_DIR, version_base="1.3"):
            cfg = compose("train", overrides=[f"hydra={option}"], return_hydra_config=True)
        assert "multiruns" in cfg.hydra.sweep.dir and "runs" in cfg.hydra.run.dir
        if option != "default":
            assert option.split("_")[0] in str(cfg.hydra.launcher._target_).lower()
        return
    cfg = compose_config("train", [f"{group}={option}"], tmp_path)
    node = cfg.get(group)
    if group == "paths":
        resolved = OmegaConf.to_container(cfg.paths, resolve=True)
        assert resolved["output_dir"] == str(tmp_path)
    elif group == "domain":
        dom = instantiate(node)
        assert isinstance(dom, Domain) and dom.name and dom.sigma_data > 0
    elif group == "model":
        # built by the domain it belongs to; here: the target resolves and binds its options
        assert callable(instantiate(node, _partial_=True))
    elif group == "schedule":
        sched = instantiate(node)
        assert isinstance(sched, Schedule)
        check_sigmas(sched.sigmas(8))
    elif group == "parameterization":
        den = instantiate(node, net=_Net())
        assert isinstance(den, Denoiser)
        x0 = torch.randn(4, 3)
        from molediff.core.space import DenseSpace

        assert torch.isfinite(den.loss(x0, None, DenseSpace.like(x0)))
    elif group == "sampler":
        spec = instantiate(node)
        assert isinstance(spec, SamplerSpec) and option.startswith(spec.name)  # or a preset
    elif group == "guidance":
        assert isinstance(instantiate(node), Guidance)
    elif group == "trainer":
        if node.get("accelerator") == "gpu" and not torch.cuda.is_available():
            assert callable(instantiate(node, _partial_=True))
        else:
            trainer = instantiate(node, logger=False, enable_checkpointing=False,
                                  default_root_dir=str(tmp_path))
            assert trainer.max_steps == node.max_steps
    elif group == "logger":
        for name, lg in (node or {}).items():
            assert instantiate(lg).save_dir is not None, name
    elif group in ("experiment", "debug"):
        comps = build_components(cfg)
        assert isinstance(comps.denoiser, Denoiser)
    else:  # a group added later without a rule here: at least it composes and resolves
        OmegaConf.to_container(cfg, resolve=True)


@pytest.mark.parametrize("name", ["sample", "evaluate"])
def test_sample_and_evaluate_configs_compose(name, tmp_path):
    cfg = compose_config(name, ["ckpt_path=x.ckpt", "sampler=euler", "steps=7"], tmp_path)
    assert cfg.sampler.name == "euler" and cfg.steps == 7 and cfg.ckpt_path == "x.ckpt"
    plain = compose_config(name, [], tmp_path)
    assert plain.get("sampler") is None  # the checkpoint's sampler unless one is chosen


def test_default_train_config_builds_a_working_model(tmp_path):
    cfg = compose_config("train", [], tmp_path)
    comps = build_components(cfg)
    comps.domain.setup()
    batch = comps.domain.collate([comps.domain.train_dataset()[i] for i in range(8)])
    x0, cond, space = comps.domain.batch_to(batch)
    loss = comps.denoiser.loss(x0, cond, space)
    loss.backward()
    assert torch.isfinite(loss)
    assert any(p.grad is not None and p.grad.abs().sum() > 0 for p in comps.denoiser.parameters())
    # the parameterization reads sigma_data from the domain
    assert comps.denoiser.sigma_data == comps.domain.sigma_data == cfg.domain.sigma_data


def test_experiment_overrides_groups(tmp_path):
    cfg = compose_config("train", ["experiment=digits_unet"], tmp_path)
    assert cfg.model._target_.endswith("UNet") and cfg.sampler.name == "dpmpp_2m"
    assert cfg.guidance._target_.endswith("ClassifierFreeGuidance")
    with open_dict(cfg):
        cfg.model.base_channels = 8
    comps = build_components(cfg)
    x = torch.randn(2, 1, 8, 8)
    assert comps.denoiser(x, torch.full((2, 1, 1, 1), 0.5), torch.tensor([1, 10])).shape == x.shape
