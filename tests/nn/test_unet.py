"""The U-Net (molediff.nn.unet): the compact network of conf/model/unet_small.yaml is
unchanged, any [B, C, H, W] shape works, attention and the class / null-class embedding do
what they claim, classifier-free guidance and inpainting compose with it through the core,
and a short real training run on the 8×8 digits learns class-conditional digits."""

from __future__ import annotations

import pytest
import torch
from omegaconf import OmegaConf

from molediff.core.denoisers import EDMDenoiser
from molediff.core.guidance import classifier_free, inpaint
from molediff.core.samplers import get_sampler
from molediff.core.schedules import KarrasSchedule
from molediff.core.space import DenseSpace
from molediff.nn.unet import SelfAttention2d, UNet
from molediff.utils.config import CONFIG_DIR

#: parameters of the original compact U-Net with conf/model/unet_small.yaml and 10 classes
#: (counted on the network before attention and padding were added; a configuration fact)
UNET_SMALL_PARAMS = 412_449


def _randomise(net: torch.nn.Module, seed: int = 0) -> torch.nn.Module:
    """Zero-initialised output layers make a fresh net output 0; give every weight a value."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in net.parameters():
            p.copy_(torch.randn(p.shape, generator=g) * 0.1)
    return net.eval()


def _small_kwargs() -> dict:
    cfg = OmegaConf.to_container(OmegaConf.load(f"{CONFIG_DIR}/model/unet_small.yaml"))
    cfg.pop("_target_")
    return cfg | {"in_channels": 1, "num_classes": 10}


def test_unet_small_config_builds_the_original_network():
    net = UNet(**_small_kwargs())
    assert sum(p.numel() for p in net.parameters()) == UNET_SMALL_PARAMS
    assert not any("attn" in k or "mid2" in k for k in net.state_dict())


@pytest.mark.parametrize("shape", [(2, 1, 80, 48), (2, 1, 64, 64), (3, 1, 80, 45), (2, 3, 28, 28),
                                   (1, 1, 8, 8), (2, 1, 13, 7)])
def test_any_height_and_width(shape):
    net = _randomise(UNet(in_channels=shape[1], channel_mults=[1, 2, 2], num_classes=10,
                          attention_levels=[2], mid_attention=True, base_channels=16))
    x = torch.randn(shape, requires_grad=True)
    out = net(x, torch.randn(shape[0], 1, 1, 1), torch.arange(shape[0]) % 11)
    assert out.shape == x.shape and torch.isfinite(out).all()
    out.square().sum().backward()
    assert torch.isfinite(x.grad).all() and x.grad.abs().sum() > 0


def test_samples_in_a_batch_do_not_interact():
    """GroupNorm and attention act per sample: a batch's outputs are those of its members."""
    net = _randomise(UNet(channel_mults=[1, 2], num_classes=10, attention_levels=[1],
                          mid_attention=True, base_channels=16))
    x, c = torch.randn(3, 1, 20, 12), torch.randn(3, 1, 1, 1)
    labels = torch.tensor([1, 10, 4])
    together = net(x, c, labels)
    alone = torch.cat([net(x[i : i + 1], c[i : i + 1], labels[i : i + 1]) for i in range(3)])
    torch.testing.assert_close(together, alone, atol=1e-5, rtol=1e-4)


def test_attention_is_placed_where_asked_and_starts_as_identity():
    net = UNet(channel_mults=[1, 2, 2], num_res_blocks=2, attention_levels=[1, 2], mid_attention=True)
    attn = [m for m in net.modules() if isinstance(m, SelfAttention2d)]
    # levels 1 and 2: two blocks down and two up each, plus the middle
    assert len(attn) == 2 * 2 * 2 + 1
    x = torch.randn(2, 32, 7, 5)
    torch.testing.assert_close(SelfAttention2d(32)(x), x)  # zero-initialised projection
    with pytest.raises(ValueError, match="attention_levels"):
        UNet(channel_mults=[1, 2], attention_levels=[2])
    with pytest.raises(ValueError, match="num_heads"):
        SelfAttention2d(30, num_heads=4)


def test_wrong_input_channels_are_refused():
    net = UNet(in_channels=1)
    with pytest.raises(ValueError, match=r"\[B, 1, H, W\]"):
        net(torch.randn(2, 3, 8, 8), torch.zeros(1))
    with pytest.raises(ValueError):
        net(torch.randn(2, 8, 8), torch.zeros(1))


def test_class_and_null_class_embedding():
    net = _randomise(UNet(num_classes=10, base_channels=16))
    x, c = torch.randn(4, 1, 8, 8), torch.zeros(4, 1, 1, 1)
    torch.testing.assert_close(net(x, c, None), net(x, c, torch.full((4,), 10)))
    a, b = net(x, c, torch.full((4,), 3)), net(x, c, torch.full((4,), 7))
    assert (a - b).abs().mean() > 1e-3


def _denoiser(num_classes: int = 10) -> EDMDenoiser:
    return EDMDenoiser(_randomise(UNet(num_classes=num_classes, base_channels=16)), sigma_data=0.5)


def test_classifier_free_guidance_through_the_core():
    den = _denoiser()
    x, sigma = torch.randn(4, 1, 8, 8), torch.full((4, 1, 1, 1), 1.3)
    labels, null = torch.tensor([0, 1, 2, 3]), torch.full((4,), 10)
    with torch.no_grad():
        cond, uncond = den(x, sigma, labels), den(x, sigma, null)
        torch.testing.assert_close(classifier_free(den, 1.0, null)(x, sigma, labels), cond)
        torch.testing.assert_close(classifier_free(den, 0.0, null)(x, sigma, labels), uncond)
        torch.testing.assert_close(classifier_free(den, 3.0, null)(x, sigma, labels),
                                   uncond + 3.0 * (cond - uncond))


@pytest.mark.parametrize("sampler", ["euler", "heun", "dpmpp_2m"])
def test_inpainting_through_the_core_keeps_known_pixels(sampler):
    den = _denoiser()
    known = torch.rand(3, 1, 12, 10) * 2 - 1
    mask = torch.zeros_like(known, dtype=torch.bool)
    mask[..., :6, :] = True  # top half known
    sigmas = KarrasSchedule(sigma_max=10.0).sigmas(8)
    space = DenseSpace.like(known)
    g = torch.Generator().manual_seed(0)
    x = sigmas[0] * space.randn_like(known, g)
    out = get_sampler(sampler)(inpaint(den, known, mask), x, sigmas, space=space,
                               cond=torch.tensor([1, 2, 3]), generator=g)
    torch.testing.assert_close(out[mask], known[mask])
    assert torch.isfinite(out).all() and not torch.allclose(out[~mask], known[~mask])


def test_short_training_on_digits_learns_conditional_digits(tmp_path):
    """The U-Net experiment on scikit-learn's 8×8 digits, 250 steps: the validation
    denoising error falls well below the untrained network's, and guided samples are
    classified as their label far above chance (0.1) by the logistic regression trained
    on real digits, and far above pure noise."""
    from molediff.cli.testing import quick_train_config
    from molediff.inference.builders import build_components
    from molediff.inference.validation import val_x0_mse
    from molediff.train.run import train

    cfg = quick_train_config(
        tmp_path, "experiment=digits_unet", "model.base_channels=16", "trainer.max_steps=250",
        "data.batch_size=64", "optim.lr=3e-3", "ema.decay=0.98", "sampling.num_samples=200",
        "sampler.steps=10", "lr_scheduler.warmup_steps=20")
    comps = build_components(cfg)
    comps.domain.setup()
    untrained = val_x0_mse(comps.denoiser, comps.domain, 256, seed=0)
    result = train(cfg)
    assert result["val_x0_mse"] < 0.6 * untrained, (result, untrained)
    noise = comps.domain.metrics({"images": torch.rand(200, 1, 8, 8) * 2 - 1,
                                  "labels": torch.arange(200) % 10})
    assert result["sample_accuracy"] > max(0.5, noise["accuracy"] + 0.3), result
    assert result["sample_fd_pixel"] < 0.5 * noise["fd_pixel"], result
