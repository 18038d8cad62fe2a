"""The Hydra model configs instantiate working networks."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from hydra.utils import instantiate
from omegaconf import OmegaConf
from torch_geometric.data import Batch, Data

CONF = Path(__file__).resolve().parents[2] / "conf" / "model"


@pytest.mark.parametrize("name", ["egnn", "tensorfield"])
def test_model_config_instantiates_and_runs(name):
    cfg = OmegaConf.load(CONF / f"{name}.yaml")
    assert "???" not in OmegaConf.to_yaml(cfg)
    cfg.layers = 1
    cfg.in_features = 3 + 5
    cfg.cond_features = 2
    net = instantiate(cfg)
    cond = Batch.from_data_list([Data(num_nodes=4), Data(num_nodes=6)])
    cond.h = torch.randn(10, 2)
    x = torch.randn(10, 8)
    out = net(x, torch.zeros(10, 1), cond)
    assert out.shape == x.shape and torch.isfinite(out).all()
