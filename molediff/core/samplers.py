"""Samplers: stateless functions that integrate the reverse process over a sigma grid.

Contract (one for all)::

    sampler(denoiser, x, sigmas, *, space, cond=None, generator=None, callback=None) -> x

``x`` starts at ``sigmas[0] * space.randn_like(...)``; ``sigmas`` is a descending grid
ending in 0; ``denoiser(x, sigma, cond)`` returns the clean-sample estimate. Everything is
in the variance-exploding form, where the probability-flow ODE reads
``dx/dsigma = (x - D(x; sigma)) / sigma`` (Karras et al. 2022, eq. 4 with s(t) = 1).

The grid is read into Python floats once before the loop so that nothing in the loop
waits for the device; non-finite values are recorded on the device and reported once,
after the loop, naming the first step where they appeared.
"""

from __future__ import annotations

import inspect
import math
from collections.abc import Callable
from typing import Any

import torch
from torch import Tensor

from molediff.core.denoisers import NFECounter
from molediff.core.schedules import check_sigmas
from molediff.core.space import Space

DenoiserFn = Callable[[Tensor, Tensor, Any], Tensor]


class NonFiniteError(FloatingPointError):
    """Sampling produced NaN or inf."""


class _Run:
    """Per-call bookkeeping shared by all samplers: calls the denoiser with a per-sample
    sigma, projects its output, counts NFE, records finiteness and feeds the callback."""

    def __init__(self, denoiser: DenoiserFn, sigmas: Tensor, space: Space, cond: Any, callback):
        check_sigmas(sigmas)
        self.denoiser, self.space, self.cond, self.callback = denoiser, space, cond, callback
        self.sigmas = [float(s) for s in sigmas]
        self.nfe = 0
        self._finite: list[Tensor] = []
        self._where: list[tuple[int, float]] = []

    def __call__(self, x: Tensor, sigma: float, step: int) -> Tensor:
        s = self.space.expand(torch.full((self.space.num_samples,), sigma, dtype=x.dtype, device=x.device))
        denoised = self.space.project(self.denoiser(x, s, self.cond))
        self.nfe += 1
        self._finite.append(torch.isfinite(denoised).all())
        self._where.append((step, sigma))
        if self.callback is not None:
            self.callback({"step": step, "x": x, "sigma": sigma, "denoised": denoised})
        return denoised

    def finish(self, x: Tensor) -> Tensor:
        finite = torch.stack(self._finite + [torch.isfinite(x).all()])
        if not bool(finite.all()):
            first = int((~finite).nonzero()[0])
            if first < len(self._where):
                step, sigma = self._where[first]
                where = f"the denoiser output at step {step} (sigma={sigma:.4g})"
            else:
                where = "the final update"
            raise NonFiniteError(f"sampling produced NaN/inf, first in {where}")
        return x


@torch.no_grad()
def euler(denoiser, x, sigmas, *, space, cond=None, generator=None, callback=None) -> Tensor:
    """Euler's method on the probability-flow ODE (first order, 1 NFE per step)."""
    run = _Run(denoiser, sigmas, space, cond, callback)
    s = run.sigmas
    for i in range(len(s) - 1):
        denoised = run(x, s[i], i)
        if s[i + 1] == 0:
            x = denoised  # the Euler step to sigma = 0 lands exactly on the estimate
            continue
        d = (x - denoised) / s[i]
        x = space.project(x + d * (s[i + 1] - s[i]))
    return run.finish(x)


@torch.no_grad()
def heun(
    denoiser,
    x,
    sigmas,
    *,
    space,
    cond=None,
    generator=None,
    callback=None,
    s_churn: float = 0.0,
    s_tmin: float = 0.0,
    s_tmax: float = float("inf"),
    s_noise: float = 1.0,
) -> Tensor:
    """EDM's stochastic sampler (Karras et al. 2022, Algorithm 2): Heun's 2nd-order method
    with optional churn. ``s_churn = 0`` gives the deterministic Algorithm 1.

    ``s_noise`` scales the churn noise. EDM uses slightly more than 1 to offset the
    network's tendency to over-denoise; below 1 each churn step adds less noise than the
    level it then denoises from, so the sampler over-denoises on purpose and contracts the
    samples toward the modes: a lower sampling temperature, for tasks that want the most
    likely structure more than the spread (e.g. recovering a minimum-energy conformer).
    """
    run = _Run(denoiser, sigmas, space, cond, callback)
    s = run.sigmas
    n = len(s) - 1
    for i in range(n):
        gamma = min(s_churn / n, math.sqrt(2) - 1) if s_tmin <= s[i] <= s_tmax else 0.0
        sigma_hat = s[i] * (1 + gamma)
        if gamma > 0:
            eps = space.randn_like(x, generator) * s_noise
            x = x + eps * math.sqrt(sigma_hat**2 - s[i] ** 2)
        x = _heun_step(run, space, x, sigma_hat, s[i + 1], i)
    return run.finish(x)


def _heun_step(run: _Run, space: Space, x: Tensor, sigma: float, sigma_next: float, step: int) -> Tensor:
    """One Heun step of the PF-ODE from ``sigma`` to ``sigma_next`` (Euler when it is 0)."""
    denoised = run(x, sigma, step)
    if sigma_next == 0:
        return denoised  # Euler to sigma = 0, exactly the estimate
    d = (x - denoised) / sigma
    x_next = space.project(x + d * (sigma_next - sigma))
    d_next = (x_next - run(x_next, sigma_next, step)) / sigma_next
    return space.project(x + (d + d_next) / 2 * (sigma_next - sigma))


@torch.no_grad()
def restart(
    denoiser,
    x,
    sigmas,
    *,
    space,
    cond=None,
    generator=None,
    callback=None,
    restart_sigma_min: float = 0.1,
    restart_sigma_max: float = 1.0,
    restarts: int = 2,
) -> Tensor:
    """Restart sampling (Xu et al. 2023): Heun on the PF-ODE along the grid; on reaching
    the grid level nearest ``restart_sigma_min`` it ``restarts`` times jumps back up to the
    grid level nearest ``restart_sigma_max`` with fresh forward-process noise
    (``x + sqrt(s_max² - s_min²) · ε``) and integrates that stretch of the grid again.
    The added noise contracts errors the ODE accumulated above ``restart_sigma_min``
    while the ODE keeps the discretisation error of a deterministic solver.

    NFE: Heun's ``2·steps - 1`` plus ``restarts · 2 · (grid steps in the restart stretch)``.
    """
    if not (restart_sigma_max > restart_sigma_min > 0) or restarts < 0:
        raise ValueError("restart needs restart_sigma_max > restart_sigma_min > 0 and restarts >= 0")
    run = _Run(denoiser, sigmas, space, cond, callback)
    s = run.sigmas
    n = len(s) - 1
    positive = range(n)  # grid levels above 0
    j_min = min(positive, key=lambda j: abs(math.log(s[j] / restart_sigma_min)))
    j_max = min(positive, key=lambda j: abs(math.log(s[j] / restart_sigma_max)))
    for i in range(n):
        x = _heun_step(run, space, x, s[i], s[i + 1], i)
        if i + 1 == j_min and j_max < j_min:
            for _ in range(restarts):
                eps = space.randn_like(x, generator)
                x = x + eps * math.sqrt(s[j_max] ** 2 - s[j_min] ** 2)
                for j in range(j_max, j_min):
                    x = _heun_step(run, space, x, s[j], s[j + 1], j)
    return run.finish(x)


@torch.no_grad()
def ddim(
    denoiser, x, sigmas, *, space, cond=None, generator=None, callback=None, eta: float = 0.0
) -> Tensor:
    """DDIM (Song et al. 2021, eq. 12) in VE form. ``eta = 0`` is deterministic (and equal
    to Euler on the PF-ODE); ``eta = 1`` is DDPM's ancestral sampler."""
    run = _Run(denoiser, sigmas, space, cond, callback)
    s = run.sigmas
    for i in range(len(s) - 1):
        denoised = run(x, s[i], i)
        if s[i + 1] == 0:
            x = denoised
            continue
        sigma_up = eta * s[i + 1] * math.sqrt(max(s[i] ** 2 - s[i + 1] ** 2, 0.0)) / s[i]
        sigma_down = math.sqrt(s[i + 1] ** 2 - sigma_up**2)
        x = denoised + (x - denoised) * (sigma_down / s[i])
        if sigma_up > 0:
            x = x + space.randn_like(x, generator) * sigma_up
        x = space.project(x)
    return run.finish(x)


@torch.no_grad()
def ddpm(denoiser, x, sigmas, *, space, cond=None, generator=None, callback=None) -> Tensor:
    """DDPM's ancestral sampler (Ho et al. 2020, Alg. 2 with the posterior variance
    beta-tilde): the step samples ``q(x_{sigma'} | x_sigma, x0 = D)``, which in VE form has
    mean ``x0 + (sigma'^2/sigma^2)(x - x0)`` and variance ``sigma'^2 (sigma^2 - sigma'^2) / sigma^2``.
    That is exactly DDIM with ``eta = 1``."""
    return ddim(denoiser, x, sigmas, space=space, cond=cond, generator=generator, callback=callback, eta=1.0)


# The multistep correction extrapolates the last two estimates with weights 1 + 1/(2r) and
# -1/(2r), r = h_prev / h. Grids uniform in time (DDPM's linear or cosine with a fixed
# t_min) end with one long step in log-sigma (r ~ 0.2), where that extrapolation
# amplifies the earlier estimate's error; a first-order step is more accurate there.
MIN_STEP_RATIO = 0.5


@torch.no_grad()
def dpmpp_2m(denoiser, x, sigmas, *, space, cond=None, generator=None, callback=None) -> Tensor:
    """DPM-Solver++(2M) (Lu et al. 2022, Algorithm 2) in ``lambda = -ln sigma``; first order
    on the first step, on the step to sigma = 0 and where the step grows more than
    twofold in ``lambda`` (``MIN_STEP_RATIO``)."""
    run = _Run(denoiser, sigmas, space, cond, callback)
    s = run.sigmas
    old_denoised, h_last = None, None
    for i in range(len(s) - 1):
        denoised = run(x, s[i], i)
        if s[i + 1] == 0:
            x = denoised
            continue
        h = math.log(s[i] / s[i + 1])
        d = denoised
        if old_denoised is not None and h_last / h >= MIN_STEP_RATIO:
            r = h_last / h
            d = (1 + 1 / (2 * r)) * denoised - (1 / (2 * r)) * old_denoised
        x = space.project((s[i + 1] / s[i]) * x - math.expm1(-h) * d)
        old_denoised, h_last = denoised, h
    return run.finish(x)


@torch.no_grad()
def dpmpp_2m_sde(
    denoiser, x, sigmas, *, space, cond=None, generator=None, callback=None, eta: float = 1.0
) -> Tensor:
    """DPM-Solver++(2M) SDE (Lu et al. 2022, the SDE variant with the midpoint
    correction); ``eta`` scales the injected noise (0 recovers the ODE solver)."""
    run = _Run(denoiser, sigmas, space, cond, callback)
    s = run.sigmas
    old_denoised, h_last = None, None
    for i in range(len(s) - 1):
        denoised = run(x, s[i], i)
        if s[i + 1] == 0:
            x = denoised
            continue
        h = math.log(s[i] / s[i + 1])
        eta_h = eta * h
        x = (s[i + 1] / s[i]) * math.exp(-eta_h) * x - math.expm1(-h - eta_h) * denoised
        if old_denoised is not None and h_last / h >= MIN_STEP_RATIO:
            r = h_last / h
            x = x - 0.5 * math.expm1(-h - eta_h) / r * (denoised - old_denoised)
        if eta > 0:
            noise_scale = s[i + 1] * math.sqrt(-math.expm1(-2 * eta_h))
            x = x + space.randn_like(x, generator) * noise_scale
        x = space.project(x)
        old_denoised, h_last = denoised, h
    return run.finish(x)


# Dormand–Prince 5(4) tableau.
_DP_C = (0.0, 1 / 5, 3 / 10, 4 / 5, 8 / 9, 1.0, 1.0)
_DP_A = (
    (),
    (1 / 5,),
    (3 / 40, 9 / 40),
    (44 / 45, -56 / 15, 32 / 9),
    (19372 / 6561, -25360 / 2187, 64448 / 6561, -212 / 729),
    (9017 / 3168, -355 / 33, 46732 / 5247, 49 / 176, -5103 / 18656),
    (35 / 384, 0.0, 500 / 1113, 125 / 192, -2187 / 6784, 11 / 84),
)
_DP_B5 = _DP_A[6] + (0.0,)
_DP_B4 = (5179 / 57600, 0.0, 7571 / 16695, 393 / 640, -92097 / 339200, 187 / 2100, 1 / 40)


@torch.no_grad()
def ode(
    denoiser,
    x,
    sigmas,
    *,
    space,
    cond=None,
    generator=None,
    callback=None,
    rtol: float = 1e-5,
    atol: float = 1e-5,
) -> Tensor:
    """Adaptive reference: Dormand–Prince RK5(4) on the probability-flow ODE in
    ``u = ln sigma`` (``dx/du = x - D``) from ``sigmas[0]`` to the smallest positive sigma,
    then the denoiser's estimate at that level. Only the end points of ``sigmas`` are
    used. Step-size control reads the error on the host: this is a reference, not a
    production sampler."""
    run = _Run(denoiser, sigmas, space, cond, callback)
    s = run.sigmas
    u, u_end = math.log(s[0]), math.log(s[-2])

    def f(x_: Tensor, u_: float) -> Tensor:
        return x_ - run(x_, math.exp(u_), 0)

    h = (u_end - u) / 20
    k1 = f(x, u)
    while (u_end - u) < -1e-12:
        h = max(h, u_end - u)  # h < 0: we integrate downwards in ln sigma
        ks = [k1]
        for j in range(1, 7):
            xi = x + h * sum(a * k for a, k in zip(_DP_A[j], ks, strict=False))
            ks.append(f(space.project(xi), u + _DP_C[j] * h))
        x5 = space.project(x + h * sum(b * k for b, k in zip(_DP_B5, ks, strict=True)))
        x4 = x + h * sum(b * k for b, k in zip(_DP_B4, ks, strict=True))
        scale = atol + rtol * torch.maximum(x.abs(), x5.abs())
        err = float(((x5 - x4) / scale).pow(2).mean().sqrt())
        if not math.isfinite(err):
            break  # run.finish names the non-finite evaluation
        if err <= 1.0:
            x, u, k1 = x5, u + h, ks[6]
        h = h * min(5.0, max(0.2, 0.9 * err ** (-1 / 5) if err > 0 else 5.0))
    x = run(x, s[-2], len(s) - 2)
    return run.finish(x)


SAMPLERS: dict[str, Callable[..., Tensor]] = {
    "euler": euler,
    "heun": heun,
    "ddim": ddim,
    "ddpm": ddpm,
    "dpmpp_2m": dpmpp_2m,
    "dpmpp_2m_sde": dpmpp_2m_sde,
    "ode": ode,
    "restart": restart,
}


def get_sampler(name: str) -> Callable[..., Tensor]:
    """Sampler function by name (``euler, heun, ddim, ddpm, dpmpp_2m, dpmpp_2m_sde, ode,
    restart``)."""
    try:
        return SAMPLERS[name]
    except KeyError:
        raise ValueError(f"unknown sampler {name!r}; choose one of {sorted(SAMPLERS)}") from None


def sampler_option_names(name: str) -> list[str]:
    """The keyword options a sampler takes besides the common contract (e.g. heun's churn)."""
    common = {"denoiser", "x", "sigmas", "space", "cond", "generator", "callback"}
    params = inspect.signature(get_sampler(name)).parameters
    return [p for p in params if p not in common]


def parse_sampler_option(text: str) -> tuple[str, int | float]:
    """``"s_noise=0.5"`` -> ``("s_noise", 0.5)``; integers stay ``int``.

    Raises:
        ValueError: not ``key=value`` or the value is not a number.
    """
    key, sep, value = text.partition("=")
    key, value = key.strip(), value.strip()
    if not sep or not key:
        raise ValueError(f"sampler option {text!r} is not key=value")
    try:
        number = int(value) if value.lstrip("+-").isdigit() else float(value)
    except ValueError:
        raise ValueError(f"sampler option {text!r}: {value!r} is not a number") from None
    if number != number:  # NaN poisons every step silently; inf is a legitimate bound (s_tmax)
        raise ValueError(f"sampler option {text!r}: {key} must be a number, not NaN")
    return key, number


def nfe_per_grid(name: str, steps: int) -> int:
    """Network evaluations a fixed-step sampler spends on a ``steps``-step grid."""
    if name == "heun":
        return 2 * steps - 1
    if name in ("ode", "restart"):
        raise ValueError(f"the {name} sampler's NFE depends on more than the grid size; "
                         "count it with NFECounter")
    get_sampler(name)
    return steps


def sample(
    sampler: str | Callable[..., Tensor],
    denoiser: DenoiserFn,
    template: Tensor,
    sigmas: Tensor,
    *,
    space: Space,
    cond: Any = None,
    generator: torch.Generator | None = None,
    callback=None,
    from_template: bool = False,
    **options,
) -> tuple[Tensor, int]:
    """Draw ``x_T = sigmas[0] · noise`` shaped like ``template`` and run a sampler.

    Elements the space holds fixed (``space.loss_mask == 0``) start at, and keep, the
    template's values; everything else starts as pure noise. With ``from_template``
    (partial diffusion) the whole template is the starting point instead:
    ``x_T = project(template + sigmas[0] · noise)``, so a grid that starts low keeps
    the template's large-scale structure.

    Returns the samples and the number of denoiser evaluations spent.
    """
    fn = get_sampler(sampler) if isinstance(sampler, str) else sampler
    counted = NFECounter(denoiser)
    noise = space.randn_like(template, generator) * float(sigmas[0])
    if from_template:
        x = space.project(template + noise)
    else:
        x = noise + template * (1 - space.loss_mask(template))
    out = fn(counted, x, sigmas, space=space, cond=cond, generator=generator, callback=callback, **options)
    return out, counted.nfe


class SamplerSpec:
    """A core sampler by name with its grid size and options (``conf/sampler/*.yaml``).

    Args:
        name: registry name in :mod:`molediff.core.samplers` (``euler``, ``heun``, ...).
        steps: number of steps of the sigma grid.
        options: extra keyword arguments of the sampler (``s_churn``, ``eta``, ...).

    Raises:
        ValueError: unknown sampler, ``steps < 1`` or an option the sampler does not take.
    """

    def __init__(self, name: str, steps: int = 18, options: dict[str, Any] | None = None) -> None:
        self.fn = get_sampler(name)
        if int(steps) < 1:
            raise ValueError(f"sampler steps must be >= 1, got {steps}")
        self.name, self.steps = name, int(steps)
        self.options = dict(options or {})
        nan = sorted(k for k, v in self.options.items() if isinstance(v, float) and v != v)
        if nan:
            raise ValueError(f"sampler option {', '.join(nan)} is NaN")
        known = sampler_option_names(name)
        unknown = sorted(set(self.options) - set(known))
        if unknown:
            raise ValueError(f"sampler {name!r} has no option {', '.join(unknown)} "
                             f"(it takes: {', '.join(known) or 'none'})")

    def nfe(self) -> int | None:
        """Denoiser evaluations per sample batch (``None`` for the adaptive ODE sampler)."""
        try:
            return nfe_per_grid(self.name, self.steps)
        except ValueError:
            return None

    def __repr__(self) -> str:
        return f"SamplerSpec({self.name!r}, steps={self.steps}, options={self.options})"
