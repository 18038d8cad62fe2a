"""The audio domain: labels, templates, the generation path with its audibility check
(driven by draws of real spectrograms and of silence), metrics and export."""

from __future__ import annotations

import numpy as np
import pytest
import soundfile as sf
import torch

from molediff.domains.audio import AudioDomain
from molediff.domains.audio.domain import parse_digits
from molediff.nn.unet import UNet
from molediff.utils.errors import InputError, UsageError


@pytest.fixture(scope="module")
def domain():
    d = AudioDomain(griffin_lim_iters=16)
    d.setup()
    return d


def real_draw(domain, silent_first_calls: int = 0):
    """A draw that returns held-out (val) spectrograms of the requested digits: what a
    perfect model would sample; its first ``silent_first_calls`` calls return silence for
    every other sample."""
    x_val, y_val = domain.features("val")
    calls = [0]

    def draw(template, cond, space, generator):
        calls[0] += 1
        picks = [int(torch.nonzero(y_val == int(c))[calls[0] % 5]) for c in cond]
        x = x_val[picks].clone()
        if calls[0] <= silent_first_calls:
            x[::2] = -1.0
        return x

    return draw


@pytest.mark.parametrize(("condition", "digits"), [
    (7, [7]), ([3, 1, 4], [3, 1, 4]), ("seven", [7]), (["One", "2"], [1, 2]), ("314", [3, 1, 4])])
def test_parse_digits(condition, digits):
    assert parse_digits(condition) == digits


@pytest.mark.parametrize("condition", [10, -1, "eleven", True, [], [3, "x"], 2.5])
def test_unknown_labels_are_one_usage_error(condition):
    with pytest.raises(UsageError, match="digit") as err:
        parse_digits(condition)
    assert "\n" not in str(err.value)


def test_data_batches_and_template(domain):
    x, y = domain.features("train")
    assert x.shape[1:] == (1, 32, 32) and len(x) == len(y)
    assert x.min() == -1 and x.max() <= 1
    assert abs(float(x.std()) - domain.sigma_data) < 0.05
    x0, cond, space = domain.batch_to(domain.collate([domain.train_dataset()[i] for i in range(16)]))
    assert x0.shape == (16, 1, 32, 32) and space.num_samples == 16
    dropped = domain.drop_condition(cond, torch.Generator().manual_seed(0))
    assert torch.equal(dropped[dropped != 10], cond[dropped != 10])
    assert (domain.null_cond(cond) == 10).all()
    t, labels, sp = domain.template(12, condition=[0, 9])
    assert t.shape == (12, 1, 32, 32) and labels.tolist() == [0, 9] * 6
    assert domain.template(3)[1].tolist() == [0, 1, 2]


def test_unet_follows_the_network_contract_on_spectrograms(domain):
    net = UNet(channel_mults=(1, 2, 2), base_channels=8, **domain.net_kwargs())
    x = torch.randn(3, 1, 32, 32)
    for cond in (None, torch.tensor([1, 2, 10])):
        assert net(x, torch.zeros(3, 1, 1, 1), cond).shape == x.shape


def test_generation_of_real_spectrograms_passes_and_is_recognised(domain):
    samples = domain.generate(real_draw(domain), 20, condition=None, seed=0, batch_size=8)
    assert samples["labels"].tolist() == [i % 10 for i in range(20)]
    assert samples["waves"].shape == (20, domain.spec.num_samples)
    assert samples["counts"]["dropped"] == 0 and samples["counts"]["resampled"] == 0
    m = domain.metrics(samples)
    assert m["num_samples"] == 20 and m["accuracy"] >= 0.8  # held-out voices, inverted
    assert -25 < m["rms_dbfs"] < -15


def test_failed_clips_are_redrawn_then_dropped_and_counted(domain, capsys):
    samples = domain.generate(real_draw(domain, silent_first_calls=1), 8, condition=[5],
                              batch_size=8)
    assert len(samples["labels"]) == 8 and (samples["labels"] == 5).all()
    assert samples["counts"]["silent"] == 4 and samples["counts"]["resampled"] == 4
    assert samples["counts"]["dropped"] == 0
    assert "4 silent" in capsys.readouterr().err

    def silence(template, cond, space, generator):
        return torch.full_like(template, -1.0)

    small = AudioDomain(griffin_lim_iters=4, max_rounds=2)
    with pytest.raises(InputError, match="no generated clip passed"):
        small.generate(silence, 3)
    with pytest.raises(UsageError, match="unknown spoken-digit label"):
        small.generate(silence, 3, condition=12)  # refused before any draw


def test_export_writes_wavs_that_reload(domain, tmp_path):
    samples = domain.generate(real_draw(domain), 4, condition=[2, 2, 8, 3], batch_size=4)
    paths = domain.export(samples, tmp_path)
    names = sorted(p.name for p in paths)
    assert names == ["digit2_000.wav", "digit2_001.wav", "digit3_000.wav", "digit8_000.wav",
                     "spectrograms.npz"]
    wave, sr = sf.read(tmp_path / "digit8_000.wav")
    assert sr == 8000 and len(wave) == domain.spec.num_samples
    assert np.abs(wave - samples["waves"][2].numpy()).max() <= 1 / 32768 + 1e-7
    npz = np.load(tmp_path / "spectrograms.npz")
    assert npz["spectrograms"].shape == (4, 1, 32, 32) and npz["labels"].tolist() == [2, 2, 8, 3]
    assert int(npz["config_hop_length"]) == 250
