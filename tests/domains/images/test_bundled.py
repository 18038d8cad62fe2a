"""The bundled MNIST checkpoint loads on a fresh install (its data path points at the
shipped subset) and its guided samples pass the check and are recognised far above
chance by the local classifier."""

from __future__ import annotations

from pathlib import Path

from molediff.domains.images.classifier import CHECKPOINT_DIR
from molediff.inference import load_model

BUNDLED = Path(CHECKPOINT_DIR) / "images_mnist.pt"


def test_bundled_checkpoint_samples_recognisable_digits(tmp_path):
    model = load_model(BUNDLED, steps=10, setup=True)
    assert model.domain.name == "images" and model.domain.data_path is None
    assert BUNDLED.stat().st_size < 10e6
    samples = model.generate(30, seed=0)
    m = model.domain.metrics(samples)
    # 10 steps (half the default NFE), 30 samples: chance is 0.1, noise scores ~0.1
    assert m["num_samples"] + m["dropped"] == 30 and m["accuracy"] > 0.5, m
    files = model.domain.export(samples, tmp_path)
    assert {p.name for p in files} == {"samples.png", "samples.npz"}
