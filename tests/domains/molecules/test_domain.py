"""MoleculeDomain: a short real training run on QM9, decoding, conditioning plumbing,
configs and bad input."""

from __future__ import annotations

import importlib.util
import time

import numpy as np
import pytest
import torch

from molediff.core.denoisers import EDMDenoiser
from molediff.core.samplers import SamplerSpec
from molediff.core.schedules import KarrasSchedule, LogNormal
from molediff.core.space import GraphSpace
from molediff.domains.molecules.domain import ATOMIC_NUMBERS, MoleculeDomain
from molediff.inference import ClassifierFreeGuidance, Model, NoGuidance
from molediff.nn.egnn import EGNN

pytestmark = pytest.mark.skipif(importlib.util.find_spec("qm9pack") is None,
                                reason="QM9 needs the PyPI package qm9pack")


@pytest.fixture(scope="module")
def domain() -> MoleculeDomain:
    d = MoleculeDomain(limit_train=300, novelty=False)
    d.setup()
    return d


@pytest.fixture(scope="module")
def cond_domain() -> MoleculeDomain:
    d = MoleculeDomain(limit_train=300, properties=["alpha", "gap"], cond_dropout=0.5,
                       novelty=False)
    d.setup()
    return d


def _denoiser(domain: MoleculeDomain, seed: int = 0, hidden: int = 32, layers: int = 2) -> EDMDenoiser:
    torch.manual_seed(seed)
    net = EGNN(**domain.net_kwargs(), hidden=hidden, layers=layers, normalization_factor=8.0)
    return EDMDenoiser(net, sigma_data=domain.sigma_data, noise_levels=LogNormal(-1.0, 1.4))


def test_data_layout(domain):
    ds = domain.train_dataset()
    assert 250 <= len(ds) <= 310 and len(domain.val_dataset()) > 0
    batch = domain.collate([ds[i] for i in range(8)])
    x0, cond, space = domain.batch_to(batch)
    assert x0.shape[1] == 3 + 5 + 1 == domain.num_features
    onehot = x0[:, 3:8] / domain.type_scale
    assert torch.allclose(onehot.sum(1), torch.ones(len(x0)))
    # every molecule is centred (the space's projection is a no-op on data)
    assert torch.allclose(space.project(x0), x0, atol=1e-5)
    assert isinstance(space, GraphSpace) and space.num_samples == 8
    # H C N O F only, explicit hydrogens
    assert (onehot[:, 0] == 1).any()


def test_short_training_lowers_loss_and_decodes(domain):
    """A real training run: a few dozen steps on ~270 QM9 molecules (< 40 s on a CPU)."""
    start = time.perf_counter()
    torch.set_num_threads(1)
    den = _denoiser(domain)
    ds = domain.train_dataset()
    g = torch.Generator().manual_seed(0)
    fixed = domain.batch_to(domain.collate([ds[i] for i in range(64)]))
    sig = torch.tensor([0.05, 0.2, 0.5, 1.0, 2.0]).repeat_interleave(13)[:64]

    def held_loss() -> float:
        with torch.no_grad():
            x0, cond, space = fixed
            return float(den.loss(x0, cond, space, generator=torch.Generator().manual_seed(1),
                                  sigma=sig))

    before = held_loss()
    opt = torch.optim.Adam(den.parameters(), lr=3e-3)
    for _ in range(40):
        idx = torch.randint(len(ds), (32,), generator=g).tolist()
        x0, cond, space = domain.batch_to(domain.collate([ds[i] for i in idx]))
        loss = den.loss(x0, cond, space, generator=g)
        opt.zero_grad()
        loss.backward()
        opt.step()
    after = held_loss()
    assert after < 0.8 * before, (before, after)

    den.eval()
    model = Model(domain, den, KarrasSchedule(0.002, 10.0), SamplerSpec("euler", 8), NoGuidance())
    samples = model.generate(6, seed=0)
    assert len(samples) == 6 and model.stats["nfe"] == 8
    for s in samples:
        assert set(s.atomic_numbers.tolist()) <= set(ATOMIC_NUMBERS)
        assert s.positions.shape == (len(s.atomic_numbers), 3)
        assert np.isfinite(s.positions).all()
        assert set(s.charges.tolist()) <= {-1, 0, 1}
        assert 1 <= len(s.atomic_numbers) <= 29
    metrics = domain.metrics(samples)
    assert metrics["num_samples"] == 6 and 0 <= metrics["atom_stability"] <= 1
    assert time.perf_counter() - start < 40


def test_template_sizes(domain):
    g = torch.Generator().manual_seed(0)
    x, cond, space = domain.template(50, generator=g)
    sizes = torch.bincount(cond.batch).tolist()
    hist = domain.size_hist
    assert all(hist[s] > 0 for s in sizes)  # drawn from the training histogram
    assert x.shape == (sum(sizes), domain.num_features)
    x, cond, space = domain.template(3, condition=7)
    assert torch.bincount(cond.batch).tolist() == [7, 7, 7]
    x, cond, space = domain.template(3, condition={"num_atoms": [5, 9]})
    assert torch.bincount(cond.batch).tolist() == [5, 9, 5]


def test_decode_argmax_types_and_angstrom(domain):
    x, cond, space = domain.template(2, condition=3)
    x = x.clone()
    x[:, :3] = torch.arange(18, dtype=torch.float32).reshape(6, 3)
    x[:, 3:8] = torch.tensor([0.1, 0.2, 0.24, 0.0, 0.05])  # argmax: N
    x[0, 3:8] = torch.tensor([0.0, 0.0, 0.0, 0.0, 0.3])  # F
    x[1, 8] = 0.09  # charge +1 after rounding
    out = domain.decode(x, cond, space)
    assert out[0].atomic_numbers.tolist() == [9, 7, 7]
    assert out[0].charges.tolist() == [0, 1, 0]
    np.testing.assert_allclose(out[1].positions, x[3:6, :3].double().numpy())


def test_export_sdf_and_xyz(domain, tmp_path):
    from molediff.domains.molecules.io import read_sdf, read_xyz

    rec = domain.train_data.record(5)
    x = domain.encode(torch.as_tensor(rec.z), torch.as_tensor(rec.pos))
    _, cond, space = domain.template(1, condition=len(rec.z))
    samples = domain.decode(x, cond, space)
    paths = domain.export(samples, tmp_path)
    assert {p.name for p in paths} == {"molecules.sdf", "molecules.xyz"}
    (z, pos), = read_sdf(tmp_path / "molecules.sdf")
    assert z.tolist() == rec.z.tolist()
    np.testing.assert_allclose(pos, rec.pos, atol=1e-3)
    assert read_xyz(tmp_path / "molecules.xyz")[0][0].tolist() == rec.z.tolist()
    # real QM9 geometries are stable under the harness
    m = MoleculeDomain(limit_train=300, novelty=True)
    m.setup()
    metrics = m.metrics(samples)
    assert metrics["molecule_stability"] == 1.0 and metrics["validity"] == 1.0
    assert metrics["novelty"] == 0.0  # a training molecule is not novel


# ------------------------------------------------------------- conditioning plumbing
def test_conditional_batch_carries_properties(cond_domain):
    from molediff.domains.chem.qm9 import PROPERTY_NAMES

    ds = cond_domain.train_dataset()
    batch = cond_domain.collate([ds[i] for i in range(16)])
    x0, cond, space = cond_domain.batch_to(batch)
    assert cond.y.shape == (16, 3)  # alpha, gap (z-scores) + present flag
    assert torch.all(cond.y[:, 2] == 1)
    data = cond_domain.train_data
    cols = [PROPERTY_NAMES.index("alpha"), PROPERTY_NAMES.index("gap")]
    expect = cond_domain.normalise(data.props[:16, cols])
    np.testing.assert_allclose(cond.y[:, :2].numpy(), expect, rtol=1e-5, atol=1e-5)

    null = cond_domain.null_cond(cond)
    assert not torch.equal(null.y, cond.y) and torch.all(null.y == 0)
    assert torch.all(cond.y[:, 2] == 1)  # the original is untouched
    dropped = cond_domain.drop_condition(cond, torch.Generator().manual_seed(0))
    kept = dropped.y[:, 2] == 1
    assert 0 < int(kept.sum()) < 16  # cond_dropout = 0.5
    assert torch.equal(dropped.y[kept], cond.y[kept]) and torch.all(dropped.y[~kept] == 0)
    assert torch.all(cond.y[:, 2] == 1)
    # the network sees the condition: conditional and null outputs differ
    den = _denoiser(cond_domain)
    sigma = space.expand(torch.full((16,), 0.5))
    xn = x0 + 0.5 * space.randn_like(x0, torch.Generator().manual_seed(0))
    with torch.no_grad():
        for p in den.net.cond.parameters():
            p.add_(0.1)
        assert not torch.allclose(den(xn, sigma, cond), den(xn, sigma, null))


def test_unconditional_domain_has_no_condition(domain):
    ds = domain.train_dataset()
    _, cond, _ = domain.batch_to(domain.collate([ds[0], ds[1]]))
    assert domain.null_cond(cond) is cond and domain.drop_condition(cond) is cond
    assert domain.net_kwargs()["graph_cond_features"] == 0


def test_property_targets_and_guided_sampling(cond_domain):
    rng = cond_domain.property_range()
    lo, hi = rng["alpha"]
    target = {"alpha": (lo + hi) / 2, "gap": sum(rng["gap"]) / 2}
    x, cond, space = cond_domain.template(4, condition={"properties": target})
    z = cond_domain.normalise(np.array([[target["alpha"], target["gap"]]]))
    np.testing.assert_allclose(cond.y[:, :2].numpy(), np.repeat(z, 4, 0), rtol=1e-5)
    assert torch.all(cond.y[:, 2] == 1)
    # EDM protocol: (property, size) pairs of training molecules
    x, cond, space = cond_domain.template(5, condition={"properties": "sample"},
                                          generator=torch.Generator().manual_seed(0))
    assert len(cond.targets) == 5 and torch.all(cond.y[:, 2] == 1)
    # no properties requested: the null (unconditional) condition
    _, cond0, _ = cond_domain.template(3, condition=4)
    assert torch.all(cond0.y == 0)
    den = _denoiser(cond_domain).eval()
    model = Model(cond_domain, den, KarrasSchedule(0.002, 10.0), SamplerSpec("euler", 4),
                  ClassifierFreeGuidance(2.0))
    samples = model.generate(3, condition={"properties": target})
    assert samples[0].target == pytest.approx(target)


# ------------------------------------------------------------------------ bad input
def test_impossible_property_values(cond_domain):
    lo, hi = cond_domain.property_range()["alpha"]
    gap = sum(cond_domain.property_range()["gap"]) / 2
    span = cond_domain.prop_max[0] - cond_domain.prop_min[0]
    assert lo == pytest.approx(cond_domain.prop_min[0] - 0.1 * span)
    for bad in (hi + 1.0, lo - 1.0, float("nan"), float("inf")):
        with pytest.raises(ValueError, match="outside the supported range"):
            cond_domain.template(2, condition={"properties": {"alpha": bad, "gap": gap}})
    with pytest.raises(ValueError, match="cannot condition on"):
        cond_domain.template(2, condition={"properties": {"alpha": 50.0, "gap": gap, "mu": 1.0}})
    with pytest.raises(ValueError, match="missing property"):
        cond_domain.template(2, condition={"properties": {"alpha": 50.0}})


def test_bad_requests(domain):
    with pytest.raises(ValueError, match="unconditional"):
        domain.template(2, condition={"properties": {"alpha": 70.0}})
    with pytest.raises(ValueError, match="unknown condition keys"):
        domain.template(2, condition={"atoms": 5})
    with pytest.raises(ValueError, match=">= 1"):
        domain.template(2, condition={"num_atoms": 0})
    with pytest.raises(ValueError, match="unsupported elements"):
        domain.encode(torch.tensor([6, 16]), torch.zeros(2, 3))
    with pytest.raises(ValueError, match="unknown QM9 properties"):
        MoleculeDomain(properties=["logp"])


# ----------------------------------------------------------------------------- configs
@pytest.mark.parametrize("experiment", ["molecules_qm9_cpu", "molecules_qm9_gpu", "molecules_qm9_cond"])
def test_experiments_compose_and_build(experiment, tmp_path):
    from molediff.cli.testing import compose_config
    from molediff.inference.builders import build_components

    cfg = compose_config("train", [f"experiment={experiment}"], tmp_path)
    assert cfg.domain._target_.endswith("MoleculeDomain")
    comps = build_components(cfg)
    assert comps.denoiser.net.in_features == 9
    if experiment == "molecules_qm9_cond":
        assert list(cfg.domain.properties) == ["alpha"]
        assert type(comps.guidance).__name__ == "ClassifierFreeGuidance"
        assert comps.domain.net_kwargs()["graph_cond_features"] == 2
    if experiment == "molecules_qm9_gpu":
        assert cfg.model.hidden == 256 and cfg.model.layers == 9
