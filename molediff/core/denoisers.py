"""Denoiser parameterizations: a network wrapped so that it predicts the clean sample.

Every wrapper computes (Karras et al. 2022, eq. 7)::

    D(x; sigma) = c_skip(sigma) x + c_out(sigma) F(c_in(sigma) x, c_noise(sigma), cond)

and the choice of ``c_skip, c_out, c_in`` *is* the parameterization (what ``F`` learns to
predict). ``c_noise = ln(sigma) / 4`` for all of them, so one network embedding serves all.

The training loss is ``E_sigma[ w(sigma) · mean_dof ||D(x0 + sigma eps) - x0||² ]`` with
``w`` one of:

- ``"uniform"``: ``1 / c_out²``, unit weight on the network's own regression target
  (eps-MSE for ``eps``, v-MSE for ``v``, EDM's weighting for ``edm``);
- ``"edm"``: ``(sigma² + sigma_data²) / (sigma · sigma_data)²`` (EDM's lambda);
- ``"min_snr"``: ``min(SNR, gamma)`` with ``SNR = sigma_data² / sigma²`` (Hang et al. 2023),
  which is the min-SNR-gamma weighting of the x0-loss for any parameterization.
"""

from __future__ import annotations

from typing import Any, Protocol

import torch
from torch import Tensor, nn

from molediff.core.schedules import LogNormal
from molediff.core.space import Space


class NoiseLevels(Protocol):
    def sample(self, n: int, generator=None, device=None, dtype=torch.float32) -> Tensor: ...


WEIGHTINGS = ("uniform", "edm", "min_snr")


class Denoiser(nn.Module):
    """Base parameterization. Subclasses define ``c_skip``, ``c_out`` and ``c_in``.

    Args:
        net: ``net(x_in, c_noise, cond) -> F`` with ``F.shape == x_in.shape``.
        sigma_data: standard deviation of the data (in data units, e.g. Å).
        weighting: loss weighting, one of ``uniform``, ``edm``, ``min_snr``.
        noise_levels: training noise distribution (a schedule or ``LogNormal``).
        min_snr_gamma: ``gamma`` of the min-SNR weighting.
    """

    def __init__(
        self,
        net: nn.Module,
        sigma_data: float = 1.0,
        weighting: str = "uniform",
        noise_levels: NoiseLevels | None = None,
        min_snr_gamma: float = 5.0,
    ):
        super().__init__()
        if weighting not in WEIGHTINGS:
            raise ValueError(f"unknown loss weighting {weighting!r}; choose one of {WEIGHTINGS}")
        self.net = net
        self.sigma_data = float(sigma_data)
        self.weighting = weighting
        self.noise_levels = noise_levels if noise_levels is not None else LogNormal()
        self.min_snr_gamma = float(min_snr_gamma)

    def c_skip(self, sigma: Tensor) -> Tensor:
        raise NotImplementedError

    def c_out(self, sigma: Tensor) -> Tensor:
        raise NotImplementedError

    def c_in(self, sigma: Tensor) -> Tensor:
        return 1 / (sigma**2 + self.sigma_data**2).sqrt()

    @staticmethod
    def c_noise(sigma: Tensor) -> Tensor:
        return sigma.log() / 4

    def forward(self, x: Tensor, sigma: Tensor, cond: Any = None) -> Tensor:
        """Clean-sample estimate ``x0_hat`` for ``x`` at noise level ``sigma`` (broadcastable to x)."""
        sigma = torch.as_tensor(sigma, dtype=x.dtype, device=x.device)
        f = self.net(self.c_in(sigma) * x, self.c_noise(sigma), cond)
        return self.c_skip(sigma) * x + self.c_out(sigma) * f

    def loss_weight(self, sigma: Tensor) -> Tensor:
        if self.weighting == "uniform":
            return 1 / self.c_out(sigma) ** 2
        if self.weighting == "edm":
            return (sigma**2 + self.sigma_data**2) / (sigma * self.sigma_data) ** 2
        snr = self.sigma_data**2 / sigma**2
        return snr.clamp(max=self.min_snr_gamma)

    def loss(
        self,
        x0: Tensor,
        cond: Any,
        space: Space,
        generator: torch.Generator | None = None,
        sigma: Tensor | None = None,
        reduce: bool = True,
    ) -> Tensor:
        """Weighted denoising loss of a clean batch ``x0`` (per sample if ``reduce=False``).

        ``sigma`` (``[B]``) overrides the training noise distribution, e.g. for evaluation
        at fixed noise levels.
        """
        n = space.num_samples
        if sigma is None:
            sigma = self.noise_levels.sample(n, generator=generator, device=x0.device, dtype=x0.dtype)
        sigma = torch.as_tensor(sigma, dtype=x0.dtype, device=x0.device).expand(n)
        x0 = space.project(x0)
        s = space.expand(sigma)
        x = x0 + s * space.randn_like(x0, generator)
        err = (self(x, s, cond) - x0) ** 2
        per_sample = space.reduce(err * space.loss_mask(x0)) / space.dof(x0).clamp_min(1)
        loss = self.loss_weight(sigma) * per_sample
        return loss.mean() if reduce else loss


class EpsDenoiser(Denoiser):
    """``F`` predicts the noise: ``x0 = x - sigma F`` (DDPM), input scaled as in the VP process."""

    def c_skip(self, sigma: Tensor) -> Tensor:
        return torch.ones_like(sigma)

    def c_out(self, sigma: Tensor) -> Tensor:
        return -sigma

    def c_in(self, sigma: Tensor) -> Tensor:
        return 1 / (sigma**2 + 1).sqrt()


class X0Denoiser(Denoiser):
    """``F`` predicts the clean sample directly."""

    def c_skip(self, sigma: Tensor) -> Tensor:
        return torch.zeros_like(sigma)

    def c_out(self, sigma: Tensor) -> Tensor:
        return torch.ones_like(sigma)


class VDenoiser(Denoiser):
    """``F`` predicts ``v = alpha eps - sigma_vp x0`` (Salimans & Ho 2022), generalised to
    ``sigma_data``: ``c_skip = sd²/(σ²+sd²)``, ``c_out = -σ sd/sqrt(σ²+sd²)``."""

    def c_skip(self, sigma: Tensor) -> Tensor:
        return self.sigma_data**2 / (sigma**2 + self.sigma_data**2)

    def c_out(self, sigma: Tensor) -> Tensor:
        return -sigma * self.sigma_data / (sigma**2 + self.sigma_data**2).sqrt()


class EDMDenoiser(Denoiser):
    """EDM preconditioning (Karras et al. 2022, Table 1)."""

    def c_skip(self, sigma: Tensor) -> Tensor:
        return self.sigma_data**2 / (sigma**2 + self.sigma_data**2)

    def c_out(self, sigma: Tensor) -> Tensor:
        return sigma * self.sigma_data / (sigma**2 + self.sigma_data**2).sqrt()


PARAMETERIZATIONS: dict[str, type[Denoiser]] = {
    "eps": EpsDenoiser,
    "x0": X0Denoiser,
    "v": VDenoiser,
    "edm": EDMDenoiser,
}


def get_parameterization(name: str) -> type[Denoiser]:
    try:
        return PARAMETERIZATIONS[name]
    except KeyError:
        raise ValueError(
            f"unknown parameterization {name!r}; choose one of {sorted(PARAMETERIZATIONS)}"
        ) from None


class NFECounter:
    """Wraps a denoiser and counts its calls (network function evaluations)."""

    def __init__(self, denoiser):
        self.denoiser = denoiser
        self.nfe = 0

    def __call__(self, x: Tensor, sigma: Tensor, cond: Any = None) -> Tensor:
        self.nfe += 1
        return self.denoiser(x, sigma, cond)


__all__ = [
    "Denoiser",
    "EpsDenoiser",
    "X0Denoiser",
    "VDenoiser",
    "EDMDenoiser",
    "NFECounter",
    "get_parameterization",
    "PARAMETERIZATIONS",
    "WEIGHTINGS",
]
