"""Recall of reference geometries: known answers of the scoring, and ``molediff evaluate``
on the bundled conformer checkpoint."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
from rdkit import Chem

from molediff.domains.conformers.evaluation import queries_of, recall_metrics, reference_molecules


def test_reference_molecules_are_fixed_and_queries_have_no_coordinates():
    a, b = reference_molecules(4), reference_molecules(4)
    assert [Chem.MolToSmiles(m) for m in a] == [Chem.MolToSmiles(m) for m in b]
    assert all(m.GetNumConformers() == 1 for m in a)
    assert {Chem.MolToSmiles(m) for m in reference_molecules(4, "valid")}.isdisjoint(
        {Chem.MolToSmiles(m) for m in a})
    assert all(q.GetNumConformers() == 0 for q in queries_of(a))
    assert a[0].GetNumConformers() == 1  # the references are untouched


def test_recall_of_the_references_themselves_and_a_failure():
    refs = reference_molecules(3)
    # molecule 0: its own geometry plus a copy scaled 1.5x about the centroid (best of K
    # picks the exact one); molecule 1: exact; molecule 2: nothing generated (a failure:
    # COV 0, left out of AMR)
    m0 = Chem.Mol(refs[0])
    pos = m0.GetConformer().GetPositions()
    far = Chem.Conformer(m0.GetConformer())
    far.SetPositions(pos.mean(0) + 1.5 * (pos - pos.mean(0)))
    m0.AddConformer(far, assignId=True)
    out = recall_metrics(refs, [m0, Chem.Mol(refs[1]), None], posebusters=True)
    assert out["cov_r"] == pytest.approx(2 / 3) and out["amr_r"] == pytest.approx(0, abs=1e-5)
    assert out["mean_best_rmsd"] == pytest.approx(0, abs=1e-5)
    assert out["fraction_below"] == pytest.approx(2 / 3) and out["failures"] == 1
    # precision sees the scaled copy, far (> 0.5 Å) from the reference
    assert out["cov_p"] < 1 and out["amr_p"] > 0.2
    assert out["conformers"] == 3 and out["diversity"] > 0.5
    assert out["posebusters_all_pass"] == pytest.approx(2 / 3)  # the scaled copy fails
    assert math.isfinite(out["median_best_rmsd"])


def test_evaluate_cli_reports_reference_recall(tmp_path, monkeypatch):
    import sys

    from molediff.cli.main import main
    from molediff.domains.conformers.generate import BUNDLED_CHECKPOINT

    out = tmp_path / "ev"
    args = ["evaluate", f"ckpt_path={BUNDLED_CHECKPOINT}", f"hydra.run.dir={out}",
            "num_samples=0", "num_references=6", "batch_size=64", "torch_threads=1"]
    monkeypatch.setattr(sys, "argv", ["molediff", *args])
    try:
        code = main(args)
    except SystemExit as exc:
        code = exc.code
    assert code in (0, None)
    m = json.loads((out / "metrics.json").read_text())
    assert m["domain"] == "conformers" and m["reference_num_molecules"] == 6
    assert m["reference_k"] == 10 and m["reference_conformers"] >= 50
    assert 0 <= m["reference_mean_best_rmsd"] < 0.5 and m["reference_cov_r"] >= 0.5
    assert m["reference_sampled"] >= m["reference_conformers"]
    assert np.isfinite(m["val_x0_mse"])


def test_recall_best_of_k_matches_ground_state_recovery():
    from molediff.domains.conformers.metrics import ground_state_recovery

    refs = reference_molecules(3)
    gens = []
    for k, ref in enumerate(refs):  # one conformer per molecule, scaled 1.1, 1.2, 1.3x
        g = Chem.Mol(ref)
        pos = g.GetConformer().GetPositions()
        g.GetConformer().SetPositions(pos.mean(0) + (1.1 + 0.1 * k) * (pos - pos.mean(0)))
        gens.append(g)
    out = recall_metrics(refs, gens, posebusters=False)
    gs = ground_state_recovery(refs, gens)
    assert out["mean_best_rmsd"] == pytest.approx(gs.mean_best_rmsd)
    assert gs.mean_best_rmsd > 0.1
    assert out["median_best_rmsd"] == pytest.approx(gs.median_best_rmsd)
    assert out["fraction_below"] == gs.fraction_below
    two = Chem.Mol(refs[0])
    two.AddConformer(Chem.Conformer(two.GetConformer()), assignId=True)
    with pytest.raises(ValueError, match="exactly one reference conformer"):
        recall_metrics([two], [gens[0]], posebusters=False)
