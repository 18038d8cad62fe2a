"""Oracle tests: every sampler against exact denoisers, on dense tensors and centred graphs."""

import math

import pytest
import torch

from molediff.core.oracle import GaussianMixture, gaussian_flow
from molediff.core.samplers import SAMPLERS, NonFiniteError, get_sampler, nfe_per_grid, sample
from molediff.core.schedules import KarrasSchedule, LinearSchedule
from molediff.core.space import DenseSpace, GraphSpace

from .conftest import dense_mixture, graph_batch

# Enough steps for each sampler's discretisation error to sit below the Monte Carlo error.
STEPS = {"ode": 2, "ddpm": 200, "dpmpp_2m_sde": 100, "euler": 150, "ddim": 150, "heun": 30, "dpmpp_2m": 40,
         "restart": 30}


def mixture_stats(x: torch.Tensor) -> torch.Tensor:
    """Fraction in the right component, its mean and std, and the left one's (2-D mixture)."""
    right = x[:, 0] > 0
    r, left = x[right], x[~right]
    return torch.cat([right.double().mean().reshape(1), r.mean(0), r.std(0), left.mean(0), left.std(0)])


def exact_stats() -> torch.Tensor:
    return torch.tensor([0.7, 2.0, 1.0, 0.3, 0.3, -2.0, 0.0, 0.5, 0.5])


@pytest.mark.parametrize("name", sorted(SAMPLERS))
def test_samples_approach_the_mixture(name, float64):
    gm, tmpl = dense_mixture(6000)
    steps = STEPS[name]
    x, nfe = sample(name, gm, tmpl, KarrasSchedule().sigmas(steps), space=gm.space,
                    generator=torch.Generator().manual_seed(0))
    err = (mixture_stats(x) - exact_stats()).abs()
    # Monte Carlo error of the statistics at n = 6000 is about 0.01-0.03.
    assert err.max() < 0.05, (name, err)
    coarse, _ = sample(name, gm, tmpl, KarrasSchedule().sigmas(4), space=gm.space,
                       generator=torch.Generator().manual_seed(0))
    if name != "ode":  # the adaptive solver ignores the grid
        assert (mixture_stats(coarse) - exact_stats()).abs().max() > err.max()


def flow_errors(name: str, space, x_T, mean, std, steps):
    sch = KarrasSchedule()
    errs = []
    for n in steps:
        x = get_sampler(name)(lambda x, s, c: gm_single(x, s, mean, std, space), x_T.clone(),
                              sch.sigmas(n), space=space)
        ref = gaussian_flow(x_T, mean, std, sch.sigma_max, sch.sigma_min)
        ref = gm_single(ref, torch.tensor(sch.sigma_min), mean, std, space)
        errs.append(float((x - ref).abs().max()))
    return errs


def gm_single(x, sigma, mean, std, space):
    return mean + std**2 / (std**2 + sigma**2) * (x - mean)


@pytest.mark.parametrize("name,order", [("euler", 1), ("ddim", 1), ("heun", 2), ("dpmpp_2m", 2)])
def test_convergence_order_on_the_ode(name, order, float64):
    """Error of the flow map against the exact Gaussian PF-ODE solution halves (Euler) or
    quarters (Heun, DPM-Solver++(2M)) when the step count doubles."""
    space = DenseSpace(32, 1)
    mean = torch.tensor([1.0, -1.0, 0.5])
    x_T = 80 * torch.randn(32, 3, generator=torch.Generator().manual_seed(0))
    errs = flow_errors(name, space, x_T, mean, 0.5, [32, 64, 128])
    rates = [math.log2(errs[i] / errs[i + 1]) for i in range(2)]
    assert all(abs(r - order) < 0.25 for r in rates), (errs, rates)


def test_ddim_eta0_is_euler_and_ddpm_is_ddim_eta1(float64):
    gm, tmpl = dense_mixture(200)
    sig = LinearSchedule().sigmas(10)
    x_T = 150 * torch.randn(200, 2, generator=torch.Generator().manual_seed(0))
    a = get_sampler("euler")(gm, x_T, sig, space=gm.space)
    b = get_sampler("ddim")(gm, x_T, sig, space=gm.space, eta=0.0)
    assert torch.allclose(a, b, atol=1e-10)
    c = get_sampler("ddpm")(gm, x_T, sig, space=gm.space, generator=torch.Generator().manual_seed(3))
    d = get_sampler("ddim")(gm, x_T, sig, space=gm.space, eta=1.0, generator=torch.Generator().manual_seed(3))
    assert torch.equal(c, d)


def test_ode_reference_matches_the_exact_flow(float64):
    space = DenseSpace(16, 1)
    mean = torch.tensor([0.3, 2.0])
    x_T = 80 * torch.randn(16, 2, generator=torch.Generator().manual_seed(1))
    (err,) = flow_errors("ode", space, x_T, mean, 0.7, [2])
    assert err < 1e-4


@pytest.mark.parametrize("name", sorted(SAMPLERS))
def test_graph_samples_are_centred_and_independent(name, float64):
    gm, space, tmpl = graph_batch(sizes=(3, 5, 8), copies=100)
    g = torch.Generator().manual_seed(0)
    x, _ = sample(name, gm, tmpl, KarrasSchedule().sigmas(STEPS[name]), space=space, generator=g)
    assert space.centre(x).abs().max() < 1e-5
    # Each graph lands on one of its two templates with the template's spread.
    d0 = space.reduce((x - gm.means[0]) ** 2)
    d1 = space.reduce((x - gm.means[1]) ** 2)
    near = torch.minimum(d0 / 0.3**2, d1 / 0.2**2) / space.dof(x)
    assert near.mean() == pytest.approx(1.0, abs=0.1), name


@pytest.mark.parametrize("name", ["euler", "heun", "dpmpp_2m"])
def test_graphs_in_a_batch_never_interact(name, float64):
    gm, space, tmpl = graph_batch(sizes=(3, 5, 8))
    x_T = 80 * space.randn_like(tmpl, torch.Generator().manual_seed(0))
    sig = KarrasSchedule().sigmas(15)
    together = get_sampler(name)(gm, x_T, sig, space=space)
    # Same start for graph 1 alone (nodes 3..7), its own space and oracle.
    single_gm, single_space, _ = graph_batch(sizes=(5,))
    single_gm.means = gm.means[:, 3:8]
    alone = get_sampler(name)(single_gm, x_T[3:8], sig, space=single_space)
    assert torch.allclose(together[3:8], alone, atol=1e-10)


def test_generator_is_honoured(float64):
    gm, tmpl = dense_mixture(100)
    sig = KarrasSchedule().sigmas(10)
    runs = [sample("dpmpp_2m_sde", gm, tmpl, sig, space=gm.space, generator=torch.Generator().manual_seed(s))[0]
            for s in (1, 1, 2)]
    assert torch.equal(runs[0], runs[1]) and not torch.equal(runs[0], runs[2])


@pytest.mark.parametrize("name", sorted(set(SAMPLERS) - {"ode", "restart"}))
def test_nfe_and_callback(name, float64):
    gm, tmpl = dense_mixture(10)
    seen = []
    _, nfe = sample(name, gm, tmpl, KarrasSchedule().sigmas(7), space=gm.space, callback=lambda d: seen.append(d["step"]))
    assert nfe == nfe_per_grid(name, 7) == len(seen)
    assert seen[0] == 0 and seen[-1] == 6


def test_bad_inputs_name_the_cause(float64):
    gm, tmpl = dense_mixture(10)
    with pytest.raises(ValueError, match="unknown sampler 'dpm'"):
        get_sampler("dpm")
    with pytest.raises(ValueError, match="end in 0"):
        sample("euler", gm, tmpl, torch.tensor([10.0, 1.0]), space=gm.space)

    def broken(x, sigma, cond):  # blows up once sigma drops below 1
        out = gm(x, sigma)
        return out if float(sigma.reshape(-1)[0]) > 1 else out * float("nan")

    with pytest.raises(NonFiniteError, match=r"step \d+ \(sigma=0\.\d+\)"):
        sample("heun", broken, tmpl, KarrasSchedule().sigmas(10), space=gm.space)


def test_samplers_run_in_float32():
    gm, tmpl = dense_mixture(500, dtype=torch.float32)
    gm = GaussianMixture(gm.means, gm.stds.float(), gm.log_weights.exp().float(), gm.space)
    x, _ = sample("dpmpp_2m", gm, tmpl, KarrasSchedule().sigmas(20), space=gm.space,
                  generator=torch.Generator().manual_seed(0))
    assert x.dtype == torch.float32 and torch.isfinite(x).all()


def test_dpmpp_2m_goes_first_order_on_a_sudden_long_step(float64, monkeypatch):
    """A time-uniform VP grid ends with one long log-sigma step; extrapolating there costs
    accuracy, so the solver drops to first order (MIN_STEP_RATIO)."""
    import molediff.core.samplers as samplers

    space = DenseSpace(32, 1)
    mean = torch.tensor([1.0, -1.0, 0.5])
    sig = LinearSchedule().sigmas(10)
    x_T = float(sig[0]) * torch.randn(32, 3, generator=torch.Generator().manual_seed(0))
    ref = gm_single(gaussian_flow(x_T, mean, 0.5, float(sig[0]), float(sig[-2])), sig[-2], mean, 0.5, space)

    def err():
        x = samplers.dpmpp_2m(lambda x, s, c: gm_single(x, s, mean, 0.5, space), x_T, sig, space=space)
        return float((x - ref).abs().max())

    guarded = err()
    monkeypatch.setattr(samplers, "MIN_STEP_RATIO", 0.0)
    assert guarded < 0.7 * err()


def test_restart_without_restarts_is_heun_and_counts_its_nfe(float64):
    gm, tmpl = dense_mixture(200)
    sig = KarrasSchedule().sigmas(12)
    x_T = 80 * gm.space.randn_like(tmpl, torch.Generator().manual_seed(0))
    plain = get_sampler("heun")(gm, x_T, sig, space=gm.space)
    same = get_sampler("restart")(gm, x_T, sig, space=gm.space, restarts=0)
    assert torch.equal(plain, same)
    levels = [float(v) for v in sig]
    j_min = min(range(12), key=lambda j: abs(math.log(levels[j] / 0.1)))
    j_max = min(range(12), key=lambda j: abs(math.log(levels[j] / 1.0)))
    assert 0 < j_max < j_min
    seen = []
    _, nfe = sample("restart", gm, tmpl, sig, space=gm.space, restarts=3,
                    generator=torch.Generator().manual_seed(0), callback=lambda d: seen.append(d["sigma"]))
    assert nfe == len(seen) == nfe_per_grid("heun", 12) + 3 * 2 * (j_min - j_max)
    # every restart stretch starts at the upper level
    assert seen.count(levels[j_max]) == 1 + 1 + 3  # main pass (2 evaluations: arrive, leave) + 3 restarts
    with pytest.raises(ValueError, match="restart needs"):
        sample("restart", gm, tmpl, sig, space=gm.space, restart_sigma_min=2.0, restart_sigma_max=1.0)
    with pytest.raises(ValueError, match="NFE depends"):
        nfe_per_grid("restart", 12)


def test_sampler_options_are_introspected_and_parsed():
    from molediff.core.samplers import parse_sampler_option, sampler_option_names

    assert sampler_option_names("heun") == ["s_churn", "s_tmin", "s_tmax", "s_noise"]
    assert sampler_option_names("euler") == []
    assert parse_sampler_option("s_noise=0.5") == ("s_noise", 0.5)
    assert parse_sampler_option(" restarts = 2 ") == ("restarts", 2)
    assert isinstance(parse_sampler_option("restarts=2")[1], int)
    with pytest.raises(ValueError, match="not key=value"):
        parse_sampler_option("=3")


def test_sample_from_template_starts_at_the_noised_template():
    # partial diffusion: an identity denoiser leaves x_T alone, so the output is the
    # start point; at a tiny starting sigma that is the (projected) template itself
    space = GraphSpace.from_sizes([4, 3])
    template = space.project(torch.randn(7, 3, generator=torch.Generator().manual_seed(1)) * 5)
    sigmas = torch.tensor([1e-4, 0.0])
    out, nfe = sample("euler", lambda x, sigma, cond: x, template, sigmas, space=space,
                      from_template=True, generator=torch.Generator().manual_seed(0))
    assert nfe == 1
    assert torch.allclose(out, template, atol=1e-3)
    plain, _ = sample("euler", lambda x, sigma, cond: x, template, sigmas, space=space,
                      generator=torch.Generator().manual_seed(0))
    assert plain.abs().max() < 1e-2  # from noise: nothing of the template survives
