"""The bundled MNIST and Fashion-MNIST checkpoints load on a fresh install (their data path
points at the shipped subset) and their guided samples pass the check and are recognised
far above chance by the local classifier."""

from __future__ import annotations

from pathlib import Path

import pytest

from molediff.domains.images.classifier import CHECKPOINT_DIR
from molediff.inference import load_model


@pytest.mark.parametrize("dataset, floor", [("mnist", 0.8), ("fashion_mnist", 0.6)])
def test_bundled_checkpoint_samples_recognisable_images(dataset, floor, tmp_path):
    bundled = Path(CHECKPOINT_DIR) / f"images_{dataset}.pt"
    model = load_model(bundled, steps=10, setup=True)
    assert model.domain.name == "images" and model.domain.data_path is None
    assert model.domain.dataset == dataset and bundled.stat().st_size < 10e6
    samples = model.generate(30, seed=0)
    m = model.domain.metrics(samples)
    # 10 steps (half the default NFE), 30 samples: chance is 0.1, noise scores ~0.1
    assert m["num_samples"] + m["dropped"] == 30 and m["accuracy"] > floor, m
    files = model.domain.export(samples, tmp_path)
    assert {p.name for p in files} == {"samples.png", "samples.npz"}
