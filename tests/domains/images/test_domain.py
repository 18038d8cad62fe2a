"""The images domain: labels and their errors, checked generation (resample, drop, count),
and one real end-to-end run through the public commands: train a tiny U-Net on the shipped
MNIST subset, sample it with `molediff sample`, and read the files back."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from PIL import Image

from molediff.domains.images import ImagesDomain
from molediff.utils.errors import InputError, UsageError


def test_batch_condition_dropout_and_null(mnist):
    batch = mnist.collate([mnist.train_dataset()[i] for i in range(256)])
    x0, cond, space = mnist.batch_to(batch)
    assert x0.shape == (256, 1, 28, 28) and space.num_samples == 256
    dropped = mnist.drop_condition(cond, torch.Generator().manual_seed(0))
    frac = float((dropped == 10).float().mean())
    assert 0.03 < frac < 0.2 and torch.equal(dropped[dropped != 10], cond[dropped != 10])
    assert (mnist.null_cond(cond) == 10).all()
    assert mnist.net_kwargs() == {"in_channels": 1, "num_classes": 10}


def test_labels_and_bad_labels():
    d = ImagesDomain(dataset="fashion_mnist")
    assert d.labels_for(12).tolist() == [*range(10), 0, 1]
    assert d.labels_for(4, ["sneaker", 3]).tolist() == [7, 3, 7, 3]
    assert d.labels_for(2, "Ankle boot").tolist() == [9, 9]
    for bad in (10, -1, "hat", 2.5, []):
        with pytest.raises(UsageError):
            d.labels_for(3, bad)
    with pytest.raises(UsageError, match="unknown image data set"):
        ImagesDomain(dataset="cifar10")
    with pytest.raises(UsageError, match="unconditional"):
        ImagesDomain(conditional=False).labels_for(2, 3)


def _scripted_draw(mnist, plan):
    """A draw that returns real images, except that call k breaks the samples listed in
    plan[k] (NaN)."""
    real = mnist.images.images["val"]
    calls = []

    def draw(template, cond, space, generator):
        k = len(calls)
        calls.append(len(template))
        out = real[: len(template)].clone()
        for i in plan.get(k, []):
            out[i] = float("nan")
        return out

    return draw, calls


def test_generate_resamples_then_drops_and_counts(mnist, capsys):
    # call 0: 6 samples, #1 and #4 fail; call 1 retries both and sample 1 fails again;
    # it keeps failing until max_rounds (4) and is dropped; labels alternate 2, 5
    draw, calls = _scripted_draw(mnist, {0: [1, 4], 1: [0], 2: [0], 3: [0]})
    out = mnist.generate(draw, 6, condition=[2, 5], seed=0)
    assert calls == [6, 2, 1, 1]
    assert len(out["images"]) == 5 and out["labels"].tolist() == [2, 2, 5, 2, 5]
    assert out["checks"] == {"rejected_nonfinite": 5, "rejected_range": 0, "rejected_blank": 0,
                             "dropped": 1}
    assert "1 of 6 images dropped" in capsys.readouterr().err
    m = mnist.metrics(out)
    assert m["dropped"] == 1 and m["rejected_nonfinite"] == 5 and m["num_samples"] == 5


def test_generate_fails_clearly_when_nothing_passes(mnist):
    def blank(template, cond, space, generator):
        return torch.full_like(template, -1.0)

    with pytest.raises(InputError, match="no image passed the check"):
        mnist.generate(blank, 3)
    with pytest.raises(UsageError):  # a bad label fails before any sampling
        mnist.generate(blank, 3, condition=11)
    with pytest.raises(UsageError, match="takes the options inpaint and mask"):
        mnist.generate(blank, 3, colour="red")


def test_end_to_end_train_sample_export(tmp_path):
    """A tiny U-Net, 40 steps on 512 shipped MNIST images through `molediff train`'s
    engine, then `molediff sample` in a subprocess: the denoising error falls below the
    untrained network's, the checked samples are written as a PNG grid one row per class
    and an .npz that reload with the right shapes."""
    from molediff.cli.testing import quick_train_config, run_cli
    from molediff.inference.builders import build_components
    from molediff.inference.validation import val_x0_mse
    from molediff.train.run import train

    cfg = quick_train_config(
        tmp_path / "train", "experiment=images_cpu", "model.base_channels=8",
        "model.channel_mults=[1,2]", "model.attention_levels=[1]", "model.mid_attention=false",
        "domain.limit_train=512", "data.limit_val_items=128", "trainer.max_steps=40",
        "data.batch_size=32", "optim.lr=5e-3", "ema.decay=0.9", "sampling.num_samples=0")
    comps = build_components(cfg)
    comps.domain.setup()
    untrained = val_x0_mse(comps.denoiser, comps.domain, 128, seed=0)
    result = train(cfg)
    assert result["val_x0_mse"] < 0.8 * untrained, (result, untrained)
    out = tmp_path / "samples"
    proc = run_cli("molediff.cli.main", [
        "sample", f"ckpt_path={result['checkpoint']}", "num_samples=12", "steps=4",
        "condition=[3,7]", f"hydra.run.dir={out}"], cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-2000:]
    metrics = json.loads((out / "metrics.json").read_text())
    n = int(metrics["num_samples"])
    assert n + metrics["dropped"] == 12 and n > 0 and metrics["domain"] == "images"
    assert "samples.png" in proc.stderr and "samples.npz" in proc.stderr
    z = np.load(out / "samples.npz")
    assert z["images"].shape == (n, 28, 28) and set(z["labels"].tolist()) <= {3, 7}
    with Image.open(out / "samples.png") as img:
        rows = len(set(z["labels"].tolist()))
        assert img.size[1] == 2 * (rows * 29 + 1)
