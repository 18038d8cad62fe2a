"""The shipped spoken-digit clips: splits, voices, lengths."""

from __future__ import annotations

import numpy as np
import pytest

from molediff.domains.audio.checks import AudibilityCheck
from molediff.domains.audio.data import SPLITS, load_clips


@pytest.fixture(scope="module")
def clips():
    return {s: load_clips(s) for s in SPLITS}


def test_every_split_has_every_digit(clips):
    for split, c in clips.items():
        assert c.sample_rate == 8000
        assert set(c.digits.tolist()) == set(range(10)), split
    assert sorted(clips["real"].digits.tolist()) == list(range(10))
    assert len(clips["train"]) > 5 * len(clips["val"]) / 2


def test_voice_variants_do_not_cross_splits(clips):
    def variants(c):
        return {v.split("+", 1)[1] for v in c.voices}

    train, val, test = (variants(clips[s]) for s in ("train", "val", "test"))
    assert train and val and test
    assert not (train & val) and not (train & test) and not (val & test)
    assert all("Allison" in v for v in clips["real"].voices)


def test_clips_are_trimmed_speech(clips):
    for c in clips.values():
        lengths = np.array([len(w) for w in c.waves]) / c.sample_rate
        assert lengths.min() > 0.1 and lengths.max() <= 0.95
        failures = [AudibilityCheck().failure(w) for w in c.waves]
        assert "silent" not in failures and "non_finite" not in failures
        # espeak-ng itself saturates a few samples of some voices (data/README.md)
        assert failures.count("clipped") <= 0.05 * len(c)


def test_unknown_split():
    with pytest.raises(ValueError, match="split"):
        load_clips("holdout")
