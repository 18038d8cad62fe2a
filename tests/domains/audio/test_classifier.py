"""The spoken-digit classifier: the bundled one hears held-out voices, and training
learns from the synthesised clips."""

from __future__ import annotations

import numpy as np
import pytest

from molediff.domains.audio.classifier import DigitCNN, SpokenDigitClassifier, train_classifier
from molediff.domains.audio.data import load_clips


@pytest.fixture(scope="module")
def bundled():
    return SpokenDigitClassifier.load()


def test_bundled_classifier_hears_held_out_voices(bundled):
    test = load_clips("test")
    acc = bundled.accuracy(list(test.waves), test.digits)
    assert acc > 0.9  # test voices were never heard in training or model choice
    assert acc == pytest.approx(bundled.info["test_accuracy"], abs=1e-9)
    real = load_clips("real")
    assert bundled.accuracy(list(real.waves), real.digits) == pytest.approx(
        bundled.info["real_accuracy"], abs=1e-9)


def test_noise_is_not_a_digit_it_knows(bundled):
    rng = np.random.default_rng(0)
    noise = [rng.standard_normal(7750).astype(np.float32) * 0.1 for _ in range(50)]
    labels = np.arange(50) % 10
    assert bundled.accuracy(noise, labels) < 0.3


@pytest.mark.slow
def test_training_learns_digits_quickly():
    """~30 s on a busy core: 8 epochs on half the training clips beat chance 4x."""
    train, val = load_clips("train"), load_clips("val")
    idx = np.arange(0, len(train), 2)
    clf = train_classifier([train.waves[i] for i in idx], train.digits[idx],
                           val=(list(val.waves), val.digits), epochs=8, augmentations=0,
                           batch_size=32, seed=1)
    assert isinstance(clf.net, DigitCNN)
    assert clf.info["val_accuracy"] > 0.4  # chance: 0.1
