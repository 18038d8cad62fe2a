"""Fragment inpainting: the fragment's atoms keep their coordinates (1e-4 Å) and types
whatever the model (an untrained one here: the guarantee is structural)."""

from __future__ import annotations

import importlib.util

import numpy as np
import pytest
import torch
from rdkit import Chem
from rdkit.Chem import AllChem

from molediff.core.denoisers import EDMDenoiser
from molediff.core.samplers import SamplerSpec, sample
from molediff.core.schedules import KarrasSchedule
from molediff.core.space import GraphSpace
from molediff.domains.molecules.domain import MoleculeDomain
from molediff.domains.molecules.fragment import (
    inpaint_denoiser,
    load_fragment,
)
from molediff.inference import Model, NoGuidance
from molediff.nn.egnn import EGNN

pytestmark = pytest.mark.skipif(importlib.util.find_spec("qm9pack") is None,
                                reason="QM9 needs the PyPI package qm9pack")

PHENOL = "Oc1ccccc1"


@pytest.fixture(scope="module")
def domain() -> MoleculeDomain:
    d = MoleculeDomain(limit_train=300, novelty=False)
    d.setup()
    return d


@pytest.fixture(scope="module")
def denoiser(domain) -> EDMDenoiser:
    torch.manual_seed(0)
    net = EGNN(**domain.net_kwargs(), hidden=32, layers=2, normalization_factor=8.0)
    # make the untrained network move atoms a lot, so keeping them still is not luck
    with torch.no_grad():
        for layer in net.layers:
            layer.c_out.weight.normal_(0, 0.5)
    return EDMDenoiser(net, sigma_data=domain.sigma_data).eval()


def _model(domain, denoiser, sampler: str, steps: int) -> Model:
    return Model(domain, denoiser, KarrasSchedule(0.002, 10.0), SamplerSpec(sampler, steps),
                 NoGuidance())


def _check_kept(samples, frag):
    for s in samples:
        k = frag.num_atoms
        assert s.fixed is not None and s.fixed[:k].all() and not s.fixed[k:].any()
        assert s.atomic_numbers[:k].tolist() == frag.atomic_numbers.tolist()
        assert s.charges[:k].tolist() == frag.charges.tolist()
        assert np.abs(s.positions[:k] - frag.positions).max() < 1e-4
        assert np.isfinite(s.positions).all()


@pytest.mark.parametrize("sampler", ["euler", "heun", "dpmpp_2m", "dpmpp_2m_sde", "ddpm"])
def test_fragment_kept_through_generate(domain, denoiser, sampler):
    frag = load_fragment(PHENOL)
    assert frag.num_atoms == 7 and sorted(set(frag.atomic_numbers.tolist())) == [6, 8]
    samples = _model(domain, denoiser, sampler, 6).generate(
        4, seed=1, condition={"fragment": PHENOL, "num_atoms": 13})
    _check_kept(samples, frag)
    moved = np.abs(samples[0].positions[7:]).max()
    assert moved > 0  # the rest was generated


def test_fragment_with_core_inpaint_and_fixed_mask(domain, denoiser):
    """The documented core recipe: ``GraphSpace(fixed_mask)`` + ``core.guidance.inpaint``."""
    frag = load_fragment(PHENOL)
    template, cond, pinned = domain.template(3, condition={"fragment": PHENOL, "num_atoms": 12},
                                             generator=torch.Generator().manual_seed(0))
    space = GraphSpace(cond.batch, int(cond.num_graphs), fixed_mask=cond.fixed_mask)
    fn = inpaint_denoiser(denoiser, template, space)
    x, _ = sample("heun", fn, template, KarrasSchedule(0.002, 10.0).sigmas(8), space=space,
                  cond=cond, generator=torch.Generator().manual_seed(0))
    _check_kept(domain.decode(x, cond, space), frag)


def test_sdf_fragment_with_hydrogens(domain, denoiser, tmp_path):
    mol = Chem.AddHs(Chem.MolFromSmiles("CC=O"))
    AllChem.EmbedMolecule(mol, randomSeed=3)
    mol.GetConformer().SetAtomPosition(0, (10.0, -2.0, 3.0))  # arbitrary frame
    path = tmp_path / "frag.sdf"
    Chem.MolToMolFile(mol, str(path))
    frag = load_fragment(str(path))
    assert frag.num_atoms == 7 and (frag.atomic_numbers == 1).sum() == 4
    samples = _model(domain, denoiser, "euler", 5).generate(
        2, seed=0, condition={"fragment": str(path)})
    _check_kept(samples, frag)  # positions in the file's own frame
    assert all(len(s.atomic_numbers) > 7 for s in samples)


def test_fragment_bad_input(domain):
    with pytest.raises(ValueError, match="fragment has 7 atoms but only 5"):
        domain.template(2, condition={"fragment": PHENOL, "num_atoms": 5})
    with pytest.raises(ValueError, match="unsupported elements"):
        domain.template(2, condition={"fragment": "Clc1ccccc1"})
    with pytest.raises(ValueError, match="unsupported elements"):
        load_fragment("CS(C)=O")
    with pytest.raises(ValueError, match="cannot parse"):
        load_fragment("c1ccc")
    with pytest.raises(ValueError, match="not found"):
        load_fragment("/nonexistent/frag.sdf")


def test_unsupported_element_in_sdf(tmp_path):
    mol = Chem.AddHs(Chem.MolFromSmiles("CS"))
    AllChem.EmbedMolecule(mol, randomSeed=0)
    path = tmp_path / "thiol.sdf"
    Chem.MolToMolFile(mol, str(path))
    with pytest.raises(ValueError, match=r"unsupported elements \['S'\]"):
        load_fragment(str(path))
