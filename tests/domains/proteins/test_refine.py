"""Refinement restores covalent geometry of a perturbed native chain, keeps its fold and
never moves held residues."""

from __future__ import annotations

import numpy as np

from molediff.domains.proteins.checks import DEFAULT_CHECK
from molediff.domains.proteins.geometry import kabsch_rmsd
from molediff.domains.proteins.metrics import design_metrics
from molediff.domains.proteins.refine import refine_backbone


def test_refinement_repairs_noisy_geometry_and_keeps_the_fold(native_test_chains):
    bb = native_test_chains.coords[5][:60].astype(np.float64)
    noisy = bb + np.random.default_rng(0).normal(scale=0.4, size=bb.shape)
    chain = np.zeros(len(bb), dtype=int)
    assert DEFAULT_CHECK.failures(noisy, chain)  # 0.4 Å noise breaks bonds
    fixed = np.zeros(len(bb), dtype=bool)
    fixed[10:15] = True
    noisy[fixed] = bb[fixed]  # a motif is given exactly
    out = refine_backbone(noisy, chain, fixed)
    assert DEFAULT_CHECK.failures(out, chain) == []
    m = design_metrics(out, chain)
    assert m["ca_ca_deviation"] < 0.05 and m["bond_deviation"] < 0.05 and m["ca_clashes"] == 0
    assert np.array_equal(out[fixed], noisy[fixed])
    assert kabsch_rmsd(out[:, 1], bb[:, 1]) < 0.6  # still the native fold
