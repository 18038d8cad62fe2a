"""Targets with exact denoisers: isotropic Gaussian mixtures on any Space.

For ``p = Σ_k π_k N(μ_k, s_k² I)`` restricted to the space (for graphs: the centred
subspace, where the means must already lie), the noisy marginal at level ``sigma`` is
``Σ_k π_k N(μ_k, (s_k² + sigma²) I)`` and Tweedie's formula gives the exact denoiser

    D(x; sigma) = Σ_k w_k(x) (μ_k + s_k² / (s_k² + sigma²) (x - μ_k)),

with posterior weights ``w_k ∝ π_k N(x; μ_k, (s_k² + sigma²) I)`` computed in the space's
own ``dof`` dimensions. Used by the oracle tests, the benchmarks and the quickstart.
"""

from __future__ import annotations

import math
from typing import Any

import torch
from torch import Tensor

from molediff.core.space import Space


class GaussianMixture:
    """Isotropic Gaussian mixture with per-component means, standard deviations and weights.

    Args:
        means: ``[K, *x.shape]`` component means, one per sample position (already
            projected onto ``space``); broadcasting over the batch dimension is allowed for
            dense tensors (``[K, 1, ...]``).
        stds: ``[K]`` component standard deviations ``s_k``.
        weights: ``[K]`` mixture weights (normalised here).
        space: the space the samples live in.
    """

    def __init__(self, means: Tensor, stds: Tensor, weights: Tensor, space: Space):
        self.means = means
        self.stds = torch.as_tensor(stds, dtype=means.dtype)
        w = torch.as_tensor(weights, dtype=means.dtype)
        self.log_weights = (w / w.sum()).log()
        self.space = space

    def log_prob_terms(self, x: Tensor, sigma: float | Tensor) -> Tensor:
        """``log π_k + log N(x; μ_k, (s_k² + sigma²) I)`` per component, ``[K, B]``;
        ``sigma`` is a scalar or per-sample ``[B]``."""
        sigma = torch.as_tensor(sigma, dtype=x.dtype).reshape(-1)
        dof = self.space.dof(x)
        mask = self.space.loss_mask(x)
        out = []
        for k in range(self.means.shape[0]):
            v = self.stds[k] ** 2 + sigma**2
            d2 = self.space.reduce(((x - self.means[k]) ** 2).expand_as(x) * mask)
            out.append(self.log_weights[k] - 0.5 * d2 / v - 0.5 * dof * torch.log(2 * math.pi * v))
        return torch.stack(out)

    def log_prob(self, x: Tensor, sigma: float | Tensor = 0.0) -> Tensor:
        """Log density of the noisy marginal at level ``sigma`` (per sample, ``[B]``)."""
        return torch.logsumexp(self.log_prob_terms(x, sigma), dim=0)

    def denoise(self, x: Tensor, sigma: Tensor, cond: Any = None) -> Tensor:
        """The exact denoiser ``E[x0 | x_sigma = x]``; ``sigma`` scalar or from ``space.expand``."""
        s = self.space.collapse(torch.as_tensor(sigma, dtype=x.dtype))  # [B]
        resp = torch.softmax(self.log_prob_terms(x, s), dim=0)  # [K, B]
        out = torch.zeros_like(x)
        for k in range(self.means.shape[0]):
            shrink = self.stds[k] ** 2 / (self.stds[k] ** 2 + s**2)
            d_k = self.means[k] + self.space.expand(shrink) * (x - self.means[k])
            out = out + self.space.expand(resp[k]) * d_k
        return out

    __call__ = denoise

    def sample(self, template: Tensor, generator: torch.Generator | None = None) -> Tensor:
        """Exact samples shaped like ``template``."""
        b = self.space.num_samples
        k = torch.multinomial(self.log_weights.exp(), b, replacement=True, generator=generator)
        eps = self.space.randn_like(template, generator)
        mean = torch.zeros_like(template)
        std = torch.zeros(b, dtype=template.dtype)
        for j in range(self.means.shape[0]):
            sel = (k == j).to(template.dtype)
            mean = mean + self.space.expand(sel) * self.means[j].expand_as(template)
            std = std + sel * self.stds[j]
        return mean + self.space.expand(std) * eps


def gaussian_flow(x_T: Tensor, mean: Tensor, std: float, sigma_T: float, sigma: float) -> Tensor:
    """Exact probability-flow ODE solution for one isotropic Gaussian ``N(mean, std² I)``:
    ``x(sigma) = mean + sqrt((std² + sigma²) / (std² + sigma_T²)) (x_T - mean)``."""
    return mean + math.sqrt((std**2 + sigma**2) / (std**2 + sigma_T**2)) * (x_T - mean)


def sliced_wasserstein(a: Tensor, b: Tensor, projections: int = 256, generator: torch.Generator | None = None) -> float:
    """Sliced 2-Wasserstein distance between two equal-size sample sets ``[n, d]``."""
    if a.shape != b.shape:
        raise ValueError(f"sample sets must have the same shape, got {tuple(a.shape)} and {tuple(b.shape)}")
    a, b = a.reshape(a.shape[0], -1).double(), b.reshape(b.shape[0], -1).double()
    dirs = torch.randn(a.shape[1], projections, generator=generator, dtype=torch.float64)
    dirs = dirs / dirs.norm(dim=0, keepdim=True)
    pa, _ = torch.sort(a @ dirs, dim=0)
    pb, _ = torch.sort(b @ dirs, dim=0)
    return float(((pa - pb) ** 2).mean().sqrt())
