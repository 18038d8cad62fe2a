"""Noise schedules, all expressed as variance-exploding noise levels.

A schedule maps time ``t ∈ [0, 1]`` to a noise level ``sigma(t)`` (increasing in ``t``) in
the convention ``x_sigma = x0 + sigma * eps``. Variance-preserving schedules, defined by
``alpha_bar(t)``, map to ``sigma = sqrt((1 - alpha_bar) / alpha_bar)``: the VE process is
the VP process divided by ``sqrt(alpha_bar)``, so samplers never need to know which kind
they run on.

A schedule provides a sampling grid (``sigmas(n)``: descending, ending in 0) and a
training noise-level distribution (``sample``: uniform in ``t``). ``LogNormal`` is EDM's
alternative training distribution.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor


class Schedule:
    """Base class: subclasses define ``sigma(t)``; the inverse is found by bisection.

    Args:
        sigma_min: smallest positive noise level of the sampling grid.
        sigma_max: largest noise level of the sampling grid (and of training).
    """

    name = "schedule"

    def __init__(self, sigma_min: float, sigma_max: float):
        if not 0 < sigma_min < sigma_max:
            raise ValueError(f"need 0 < sigma_min < sigma_max, got {sigma_min}, {sigma_max}")
        self.sigma_min = float(sigma_min)
        self.sigma_max = float(sigma_max)

    def sigma(self, t: Tensor) -> Tensor:
        raise NotImplementedError

    def t(self, sigma: Tensor) -> Tensor:
        """Inverse of ``sigma(t)`` (bisection in float64; sigma is monotone in t)."""
        sigma = torch.as_tensor(sigma, dtype=torch.float64)
        lo = torch.zeros_like(sigma)
        hi = torch.ones_like(sigma)
        for _ in range(64):
            mid = 0.5 * (lo + hi)
            below = self.sigma(mid) < sigma
            lo = torch.where(below, mid, lo)
            hi = torch.where(below, hi, mid)
        return 0.5 * (lo + hi)

    @property
    def t_range(self) -> tuple[float, float]:
        t = self.t(torch.tensor([self.sigma_min, self.sigma_max], dtype=torch.float64))
        return float(t[0]), float(t[1])

    def sigmas(self, n: int) -> Tensor:
        """Sampling grid of ``n`` steps: ``n + 1`` descending noise levels ending in 0 (float64)."""
        if n < 1:
            raise ValueError(f"number of steps must be >= 1, got {n}")
        t_min, t_max = self.t_range
        t = torch.linspace(t_max, t_min, n, dtype=torch.float64)
        s = self.sigma(t)
        s[0], s[-1] = self.sigma_max, self.sigma_min if n > 1 else self.sigma_max
        return torch.cat([s, s.new_zeros(1)])

    def sample(
        self,
        n: int,
        generator: torch.Generator | None = None,
        device: torch.device | str | None = None,
        dtype: torch.dtype = torch.float32,
    ) -> Tensor:
        """Training noise levels: ``t`` uniform on the grid's time range."""
        t_min, t_max = self.t_range
        u = torch.rand(n, generator=generator, dtype=torch.float64, device=device)
        return self.sigma(t_min + (t_max - t_min) * u).to(dtype)

    def __repr__(self) -> str:
        return f"{type(self).__name__}(sigma_min={self.sigma_min:.4g}, sigma_max={self.sigma_max:.4g})"


class VPSchedule(Schedule):
    """A variance-preserving schedule given by ``alpha_bar(t)``."""

    def alpha_bar(self, t: Tensor) -> Tensor:
        raise NotImplementedError

    def sigma(self, t: Tensor) -> Tensor:
        ab = self.alpha_bar(torch.as_tensor(t, dtype=torch.float64))
        return ((1 - ab) / ab).clamp_min(0).sqrt()

    def _sigma_at(self, t: float) -> float:
        return float(self.sigma(torch.tensor(t, dtype=torch.float64)))


class LinearSchedule(VPSchedule):
    """DDPM's linear betas as the continuous VP-SDE (Song et al. 2021):
    ``alpha_bar(t) = exp(-(beta_min t + (beta_max - beta_min) t^2 / 2))``; the grid spans
    ``t ∈ [t_min, 1]`` (``t_min = 1e-3`` is DDPM's first of 1000 steps)."""

    name = "linear"

    def __init__(self, beta_min: float = 0.1, beta_max: float = 20.0, t_min: float = 1e-3):
        self.beta_min, self.beta_max = beta_min, beta_max
        super().__init__(self._sigma_at(t_min), self._sigma_at(1.0))

    def alpha_bar(self, t: Tensor) -> Tensor:
        return torch.exp(-(self.beta_min * t + 0.5 * (self.beta_max - self.beta_min) * t**2))


class CosineSchedule(VPSchedule):
    """Nichol & Dhariwal's cosine schedule, ``alpha_bar ∝ cos²((t + s)/(1 + s)·π/2)``,
    cut at ``sigma_max`` (the paper clips betas at 0.999 for the same reason)."""

    name = "cosine"

    def __init__(self, s: float = 0.008, t_min: float = 1e-3, sigma_max: float = 80.0):
        self.s = s
        super().__init__(self._sigma_at(t_min), sigma_max)

    def alpha_bar(self, t: Tensor) -> Tensor:
        f = torch.cos((t + self.s) / (1 + self.s) * math.pi / 2) ** 2
        f0 = math.cos(self.s / (1 + self.s) * math.pi / 2) ** 2
        return (f / f0).clamp(1e-12, 1.0)


class PolynomialSchedule(VPSchedule):
    """EDM-for-molecules' ``polynomial_2``: ``alpha_bar = (1 - t^p)^2`` squeezed to
    ``(1 - 2s) alpha_bar + s`` with precision ``s = 1e-5`` (Hoogeboom et al. 2022)."""

    name = "polynomial"

    def __init__(self, power: float = 2.0, precision: float = 1e-5):
        self.power, self.precision = power, precision
        super().__init__(self._sigma_at(0.0), self._sigma_at(1.0))

    def alpha_bar(self, t: Tensor) -> Tensor:
        ab = (1 - t**self.power) ** 2
        return (1 - 2 * self.precision) * ab + self.precision


class SigmoidSchedule(VPSchedule):
    """GeoDiff's sigmoid betas: ``beta_k = sigmoid(linspace(-6, 6, K)) (end - start) + start``
    over ``K`` discrete steps; ``log alpha_bar`` is interpolated linearly between steps."""

    name = "sigmoid"

    def __init__(self, beta_start: float = 1e-7, beta_end: float = 2e-3, num_steps: int = 5000):
        x = torch.linspace(-6, 6, num_steps, dtype=torch.float64)
        betas = torch.sigmoid(x) * (beta_end - beta_start) + beta_start
        log_ab = torch.cumsum(torch.log1p(-betas), 0)
        self._log_ab = torch.cat([log_ab.new_zeros(1), log_ab])  # t_k = k / K, alpha_bar(0) = 1
        self.num_steps = num_steps
        super().__init__(self._sigma_at(1.0 / num_steps), self._sigma_at(1.0))

    def alpha_bar(self, t: Tensor) -> Tensor:
        pos = t.clamp(0, 1) * self.num_steps
        k = pos.floor().long().clamp(max=self.num_steps - 1)
        w = pos - k
        return torch.exp(torch.lerp(self._log_ab[k], self._log_ab[k + 1], w))


class KarrasSchedule(Schedule):
    """EDM's grid (Karras et al. 2022, eq. 5): ``sigma(t) = (smin^(1/ρ) + t (smax^(1/ρ) - smin^(1/ρ)))^ρ``."""

    name = "karras"

    def __init__(self, sigma_min: float = 0.002, sigma_max: float = 80.0, rho: float = 7.0):
        self.rho = rho
        super().__init__(sigma_min, sigma_max)

    def sigma(self, t: Tensor) -> Tensor:
        t = torch.as_tensor(t, dtype=torch.float64)
        lo, hi = self.sigma_min ** (1 / self.rho), self.sigma_max ** (1 / self.rho)
        return (lo + t * (hi - lo)) ** self.rho


class RectifiedFlowSchedule(Schedule):
    """Rectified flow / flow matching, ``x_t = (1 - t) x0 + t eps``: ``sigma = t / (1 - t)``.
    Euler on this grid is exactly the rectified-flow Euler sampler."""

    name = "rectified_flow"

    def __init__(self, t_min: float = 1e-3, t_max: float = 0.999):
        super().__init__(t_min / (1 - t_min), t_max / (1 - t_max))

    def sigma(self, t: Tensor) -> Tensor:
        t = torch.as_tensor(t, dtype=torch.float64)
        return t / (1 - t).clamp_min(1e-12)

    def t(self, sigma: Tensor) -> Tensor:
        sigma = torch.as_tensor(sigma, dtype=torch.float64)
        return sigma / (1 + sigma)


class LogNormal:
    """EDM's training noise levels: ``ln sigma ~ N(p_mean, p_std²)``."""

    def __init__(self, p_mean: float = -1.2, p_std: float = 1.2):
        self.p_mean, self.p_std = p_mean, p_std

    def sample(
        self,
        n: int,
        generator: torch.Generator | None = None,
        device: torch.device | str | None = None,
        dtype: torch.dtype = torch.float32,
    ) -> Tensor:
        z = torch.randn(n, generator=generator, device=device, dtype=torch.float64)
        return torch.exp(self.p_mean + self.p_std * z).to(dtype)


SCHEDULES: dict[str, type[Schedule]] = {
    cls.name: cls
    for cls in (
        LinearSchedule,
        CosineSchedule,
        PolynomialSchedule,
        SigmoidSchedule,
        KarrasSchedule,
        RectifiedFlowSchedule,
    )
}


def get_schedule(name: str, **kwargs) -> Schedule:
    """Schedule by name: one of ``linear, cosine, polynomial, sigmoid, karras, rectified_flow``."""
    try:
        cls = SCHEDULES[name]
    except KeyError:
        raise ValueError(f"unknown schedule {name!r}; choose one of {sorted(SCHEDULES)}") from None
    return cls(**kwargs)


def check_sigmas(sigmas: Tensor) -> None:
    """Raise ``ValueError`` unless ``sigmas`` is a finite, strictly descending 1-D grid ending in 0."""
    if not isinstance(sigmas, Tensor) or sigmas.ndim != 1 or sigmas.numel() < 2:
        raise ValueError("sigmas must be a 1-D tensor with at least two noise levels")
    if not torch.isfinite(sigmas).all():
        raise ValueError("sigmas contains NaN or inf")
    if sigmas[-1] != 0:
        raise ValueError(f"sigmas must end in 0 (got last value {float(sigmas[-1]):.4g})")
    if not (sigmas[:-1] > sigmas[1:]).all():
        raise ValueError("sigmas must be strictly descending")
