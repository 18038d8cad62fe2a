"""The geometry gate and the element check inside generation, with fake samplers: a torn
draw is rejected and resampled, an always-torn molecule fails with a message that names
the failing checks, and elements outside the model's training set are refused before
any sampling."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from rdkit import Chem
from rdkit.Chem import AllChem

from molediff.domains.conformers.domain import QM9_ELEMENTS, ConformerDomain
from molediff.domains.conformers.generate import generate_conformers, summarize, summary_line
from molediff.utils.errors import InputError

ASPIRIN = "CC(=O)Oc1ccccc1C(=O)O"


def _good_positions(smiles: str) -> torch.Tensor:
    """An ETKDG + MMFF conformer in the atom order generation uses (SMILES, then AddHs)."""
    mol = Chem.AddHs(Chem.MolFromSmiles(smiles))
    assert AllChem.EmbedMolecule(mol, randomSeed=0) == 0
    AllChem.MMFFOptimizeMolecule(mol)
    return torch.tensor(mol.GetConformer().GetPositions(), dtype=torch.float32)


def _torn(pos: torch.Tensor) -> torch.Tensor:
    """Every interatomic distance four times too long: bonds of 4-6 Å."""
    return (pos - pos.mean(0)) * 4.0


def _scripted_draw(script):
    """A fake sampler: on its ``k``-th call, graph ``g`` of the batch gets
    ``script(k, atomic_numbers_of_g)`` (``[n_g, 3]`` Å); records every graph it sees."""
    seen: list[list[int]] = []

    def draw(template, cond, space, generator, **keywords):  # ignores guidance transforms
        ptr = cond.ptr.tolist()
        assert template.shape == (ptr[-1], 3)
        n = len(ptr) - 1
        graphs = [cond.z[ptr[g]:ptr[g + 1]].tolist() for g in range(n)]
        seen.extend(graphs)
        out = [script(len(draw.calls), z) for z in graphs]
        draw.calls.append(n)
        return torch.cat(out).to(template)

    draw.calls = []
    draw.seen = seen
    return draw


def test_torn_first_draw_is_resampled_and_counted():
    good = _good_positions(ASPIRIN)
    draw = _scripted_draw(lambda call, z: _torn(good) if call == 0 else good)
    res = generate_conformers(draw, [ASPIRIN], 1, seed=0, max_rounds=3)[0]
    assert draw.calls == [1, 1]  # round 1: torn, rejected; round 2: good
    assert res.ok and res.num_conformers == 1
    np.testing.assert_allclose(res.mol.GetConformer(0).GetPositions(), good.numpy(), atol=1e-5)
    s = res.stats
    assert s["geometry_rejected"] == 1 and s["gate_bond"] == 1 and s["sampled"] == 2
    assert s["stereo_rejected"] == 0 and s["dropped"] == 0
    assert s["sampled"] == res.num_conformers + s["stereo_rejected"] + s["geometry_rejected"]
    assert res.conformer_props[0]["round"] == 2
    # the counters travel with every conformer's SDF record and into the summary
    _, props = res.records()[0]
    assert props["mol_geometry_rejected"] == 1 and props["mol_gate_bond"] == 1
    assert props["mol_gate_clash"] == 0
    summary = summarize([res])
    assert summary["geometry_rejected"] == 1 and summary["gate_bond"] == 1
    line = summary_line(summary)
    assert "geometry: 1 rejected (failed checks: bond 1" in line, line


def test_always_torn_molecule_fails_with_the_reasons():
    good = {21: _good_positions(ASPIRIN), 9: _good_positions("CCO")}  # by atom count
    draw = _scripted_draw(lambda call, z: _torn(good[len(z)]))
    res = generate_conformers(draw, [ASPIRIN, "CCO"], [3, 2], seed=0, max_rounds=2)
    aspirin, ethanol = res
    assert draw.calls == [5, 5]  # both molecules, two rounds, then dropped
    assert not aspirin.ok and aspirin.num_conformers == 0
    s = aspirin.stats
    assert s["dropped"] == 3 and s["sampled"] == 6 and s["geometry_rejected"] == 6
    assert s["gate_bond"] == 6
    assert aspirin.error.startswith("no conformer passed the geometry check (bond 6")
    assert aspirin.error.endswith(" of 6 draws)"), aspirin.error
    assert not ethanol.ok and "geometry check" in ethanol.error
    summ = summarize(res)
    assert summ["failed"] == 2 and summ["geometry_rejected"] == 10 and summ["dropped"] == 5
    assert "geometry: 10 rejected (failed checks: bond 10" in summary_line(summ)


def test_clash_is_named_in_the_failure():
    good = _good_positions("CCCCCC")
    folded = good.clone()
    folded[5] = folded[0] + torch.tensor([0.3, 0.0, 0.0])  # C6 onto C1: a clash (and bonds)
    draw = _scripted_draw(lambda call, z: folded)
    res = generate_conformers(draw, ["CCCCCC"], 1, seed=0, max_rounds=1)[0]
    assert not res.ok and res.stats["gate_clash"] == 1 and "clash 1" in res.error


def test_iodine_is_refused_before_any_draw():
    good = _good_positions("CCO")
    draw = _scripted_draw(lambda call, z: good)
    res = generate_conformers(draw, ["CI", "CCO", "ICCCl"], 2, seed=0, elements=QM9_ELEMENTS)
    assert res[0].error == (
        "element I is outside what this model was trained on (H, C, N, O, F)")
    assert res[2].error == (
        "elements I, Cl are outside what this model was trained on (H, C, N, O, F)")
    assert res[1].ok and res[1].num_conformers == 2
    assert all(53 not in z and 17 not in z for z in draw.seen)  # never sampled
    assert res[0].stats == {} and res[0].mol is None

    def never(*args):
        raise AssertionError("the sampler must not run for a refused molecule")

    res = generate_conformers(never, ["CI"], 3, seed=0, elements=QM9_ELEMENTS)
    assert not res[0].ok and "element I" in res[0].error
    # without an element list (the old signature) iodine is the featuriser's business
    good_ci = _good_positions("CI")
    res = generate_conformers(_scripted_draw(lambda c, z: good_ci), ["CI"], 1, seed=0)
    assert res[0].ok


def test_domain_refuses_elements_it_was_not_trained_on():
    domain = ConformerDomain()
    assert domain.elements == ("H", "C", "N", "O", "F")

    def never(*args):
        raise AssertionError("the sampler must not run")

    with pytest.raises(InputError, match="element I is outside what this model was trained on"):
        domain.generate(never, 2, condition="CI")
    wider = ConformerDomain(elements=["H", "C", "I"])
    good_ci = _good_positions("CI")
    res = wider.generate(_scripted_draw(lambda c, z: good_ci), 1, condition="CI")
    assert res[0].ok
    with pytest.raises(ValueError, match="elements"):
        ConformerDomain(elements="HCNOF")


def test_validation_sampling_reports_rejections_instead_of_raising():
    """Training's sample metrics (condition=None) of a model that cannot place atoms yet:
    the failures are counted, not raised (an early checkpoint must not stop training)."""
    domain = ConformerDomain(limit_train=300)  # the first QM9 rows; every 10th held out

    def torn(template, cond, space, generator):
        noise = torch.randn(template.shape, generator=torch.Generator().manual_seed(0))
        return noise.to(template) * 20.0  # atoms scattered over ~40 Å

    results = domain.generate(torn, 4, condition=None, max_rounds=2)  # 4 molecules, 1 each
    assert len(results) == 4 and not any(r.ok for r in results)
    assert all("geometry check" in r.error for r in results)
    metrics = domain.metrics(results)
    assert metrics["succeeded"] == 0 and metrics["geometry_rejected"] == 8
    assert metrics["num_samples"] == 0
