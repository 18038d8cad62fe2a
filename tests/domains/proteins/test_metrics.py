"""TM-score helpers against known answers: a chain against itself (also moved rigidly)
scores 1, a native chain against a random walk of CA atoms scores low, and a training
chain is not novel against a set that contains it."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.spatial.transform import Rotation

from molediff.domains.proteins.data import load_chains
from molediff.domains.proteins.geometry import CA, secondary_structure
from molediff.domains.proteins.metrics import novelty, pairwise_tm, tm_score

pytest.importorskip("tmtools")


@pytest.fixture(scope="module")
def helix_chain(native_test_chains):
    """CA trace of the most helical of the first native test chains (a clear fold)."""
    helix = [float((secondary_structure(bb) == "H").mean()) for bb in native_test_chains.coords]
    best = int(np.argmax(helix))
    assert helix[best] > 0.5
    return native_test_chains.coords[best][:, CA].astype(np.float64)


def random_walk(n: int, seed: int) -> np.ndarray:
    """``[n, 3]`` CA atoms 3.80 Å apart in random directions (no fold), Å."""
    rng = np.random.default_rng(seed)
    steps = rng.normal(size=(n - 1, 3))
    steps *= 3.80 / np.linalg.norm(steps, axis=1, keepdims=True)
    return np.concatenate([np.zeros((1, 3)), np.cumsum(steps, axis=0)])


def test_a_chain_against_itself_scores_one(helix_chain):
    assert tm_score(helix_chain, helix_chain) == pytest.approx(1.0, abs=1e-6)
    moved = helix_chain @ Rotation.random(random_state=0).as_matrix().T + [10.0, -4.0, 7.0]
    assert tm_score(moved, helix_chain) == pytest.approx(1.0, abs=1e-6)
    assert pairwise_tm([helix_chain, moved]) == pytest.approx(1.0, abs=1e-6)


def test_a_native_fold_against_a_random_walk_scores_low(helix_chain):
    walk = random_walk(len(helix_chain), seed=1)
    assert tm_score(walk, helix_chain) < 0.3
    assert tm_score(helix_chain, walk) < 0.3
    assert pairwise_tm([helix_chain, walk]) < 0.3
    # one identical pair among three: the mean of (1, low, low)
    three = pairwise_tm([helix_chain, helix_chain.copy(), walk])
    assert 1 / 3 < three < (1 + 2 * 0.3) / 3


def test_novelty_of_a_training_chain_against_a_set_containing_it_is_one():
    train = [bb[:, CA].astype(np.float64) for bb in load_chains("train", limit=3).coords]
    assert novelty([train[1]], train) == pytest.approx(1.0, abs=1e-6)
    assert novelty([random_walk(len(train[1]), seed=2)], train) < 0.3
