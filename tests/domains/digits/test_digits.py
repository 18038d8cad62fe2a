"""The digits domain: data, metrics against real digits, export, and an end-to-end check
that a short training run learns class-conditional digits."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from molediff.domains.digits import DigitsDomain, DigitsMLP
from molediff.nn.unet import UNet


@pytest.fixture(scope="module")
def domain():
    d = DigitsDomain()
    d.setup()
    return d


def test_split_is_real_stratified_and_scaled(domain):
    s = domain.split
    assert len(s.train_x) + len(s.val_x) == 1797 and s.train_x.shape[1:] == (1, 8, 8)
    assert s.train_x.min() == -1 and s.train_x.max() == 1
    counts = np.bincount(s.val_y.numpy(), minlength=10)
    assert counts.min() >= 34 and counts.max() <= 37
    assert abs(float(s.train_x.std()) - domain.sigma_data) < 0.02


def test_batch_to_condition_dropout_and_template(domain):
    batch = domain.collate([domain.train_dataset()[i] for i in range(64)])
    x0, cond, space = domain.batch_to(batch)
    assert x0.shape == (64, 1, 8, 8) and space.num_samples == 64
    dropped = domain.drop_condition(cond, torch.Generator().manual_seed(0))
    frac = float((dropped == 10).float().mean())
    assert 0 < frac < 0.3 and torch.equal(dropped[dropped != 10], cond[dropped != 10])
    assert (domain.null_cond(cond) == 10).all()
    x, labels, sp = domain.template(25, condition=[3, 7])
    assert x.shape == (25, 1, 8, 8) and set(labels.tolist()) == {3, 7}
    with pytest.raises(ValueError):
        domain.template(2, condition=12)


def test_metrics_separate_real_from_noise(domain):
    real = {"images": domain.split.val_x[:200], "labels": domain.split.val_y[:200]}
    noise = {"images": torch.rand(200, 1, 8, 8) * 2 - 1, "labels": torch.arange(200) % 10}
    mr, mn = domain.metrics(real), domain.metrics(noise)
    assert mr["accuracy"] > 0.9 and mn["accuracy"] < 0.3
    assert mr["fd_pixel"] < 0.2 * mn["fd_pixel"] and mr["mmd_rbf"] < mn["mmd_rbf"]


def test_export_png_and_npz(domain, tmp_path):
    samples = {"images": domain.split.val_x[:30], "labels": domain.split.val_y[:30]}
    paths = domain.export(samples, tmp_path)
    assert {p.name for p in paths} == {"samples.png", "samples.npz"}
    data = np.load(tmp_path / "samples.npz")
    assert data["images"].shape == (30, 8, 8) and data["images"].max() <= 16
    assert (tmp_path / "samples.png").read_bytes()[:4] == b"\x89PNG"


@pytest.mark.parametrize("net_cls", [DigitsMLP, UNet])
def test_nets_follow_the_network_contract(domain, net_cls):
    kwargs = domain.net_kwargs()
    if net_cls is UNet:
        kwargs = {k: v for k, v in kwargs.items() if k in ("in_channels", "num_classes")}
    net = net_cls(**kwargs)
    x = torch.randn(5, 1, 8, 8)
    for c_noise in (torch.zeros(1, 1, 1, 1), torch.randn(5, 1, 1, 1)):
        for cond in (None, torch.arange(5), torch.full((5,), 10)):
            assert net(x, c_noise, cond).shape == x.shape


def test_training_learns_conditional_digits(tmp_path):
    """300 steps (~5 s on one core): conditional samples are classified as their label by
    a logistic regression trained on real digits far above chance (0.1)."""
    from molediff.cli.testing import quick_train_config
    from molediff.train.run import train

    result = train(quick_train_config(
        tmp_path, "trainer.max_steps=300", "data.batch_size=128", "optim.lr=2e-3", "ema.decay=0.99",
        "sampling.num_samples=200", "sampler.steps=10", "lr_scheduler.warmup_steps=20"))
    assert result["sample_accuracy"] > 0.5, result
    assert result["sample_fd_pixel"] < 600, result  # random noise: ~3000; real vs real: ~150
    assert result["val_x0_mse"] < 0.2
