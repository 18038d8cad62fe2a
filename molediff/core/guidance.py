"""Guidance: transforms that take a denoiser and return a denoiser, so they compose.

``D(x; sigma) = x + sigma² ∇log p_sigma(x)`` (Tweedie), so anything that adds to the score
adds ``sigma²`` times it to the denoiser. RePaint needs to move back up in noise between
steps, so it is a sampler (``repaint``) that runs over an inpainting denoiser.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import torch
from torch import Tensor

from molediff.core.samplers import DenoiserFn, _Run
from molediff.core.space import Space


def classifier_free(denoiser: DenoiserFn, scale: float, null_cond: Any = None) -> DenoiserFn:
    """Classifier-free guidance (Ho & Salimans 2022):
    ``D = D(x | null) + scale (D(x | cond) - D(x | null))``. ``scale = 1`` is the plain
    conditional model, ``0`` the unconditional one; ``> 1`` sharpens towards the condition,
    which is ``p(x) p(c|x)^scale`` at the level of scores."""

    def guided(x: Tensor, sigma: Tensor, cond: Any = None) -> Tensor:
        uncond = denoiser(x, sigma, null_cond)
        if scale == 0:
            return uncond
        return uncond + scale * (denoiser(x, sigma, cond) - uncond)

    return guided


def gradient_guidance(
    denoiser: DenoiserFn,
    grad_log_p: Callable[[Tensor, Tensor, Any], Tensor],
    scale: float = 1.0,
) -> DenoiserFn:
    """Adds ``scale · sigma² · ∇_x log p(y | x_sigma)`` to the denoiser (classifier or
    reconstruction guidance). ``grad_log_p(x, sigma, cond)`` returns an ``x``-shaped tensor."""

    def guided(x: Tensor, sigma: Tensor, cond: Any = None) -> Tensor:
        with torch.enable_grad():  # samplers run without autograd; the gradient needs it
            grad = grad_log_p(x.detach(), sigma, cond)
        return denoiser(x, sigma, cond) + scale * sigma**2 * grad.detach()

    return guided


def inpaint(denoiser: DenoiserFn, known: Tensor, mask: Tensor) -> DenoiserFn:
    """Inpainting by replacement: the estimate of the known elements (``mask`` True) is the
    known value. Every sampler's last step returns its last estimate, so the known part of
    the sample is exactly ``known``."""
    mask = mask.bool()

    def inpainted(x: Tensor, sigma: Tensor, cond: Any = None) -> Tensor:
        return torch.where(mask, known.to(x.dtype), denoiser(x, sigma, cond))

    return inpainted


@torch.no_grad()
def repaint(
    denoiser: DenoiserFn,
    x: Tensor,
    sigmas: Tensor,
    *,
    space: Space,
    known: Tensor,
    mask: Tensor,
    cond: Any = None,
    generator: torch.Generator | None = None,
    callback=None,
    resamples: int = 10,
) -> Tensor:
    """RePaint (Lugmayr et al. 2022, Algorithm 1, jump length 1) in VE form.

    Each step from ``sigma`` to ``sigma'`` draws the unknown part from DDPM's posterior
    ``q(x_sigma' | x_sigma, x0 = D)`` and the known part as ``known + sigma' z``; the pair is
    then diffused back to ``sigma`` (``x + sqrt(sigma² - sigma'²) z``) and the step repeated,
    ``resamples`` times in all, so the unknown part harmonises with the known one.
    """
    mask = mask.bool()
    run = _Run(inpaint(denoiser, known, mask), sigmas, space, cond, callback)
    s = run.sigmas
    for i in range(len(s) - 1):
        for u in range(resamples):
            denoised = run(x, s[i], i)
            if s[i + 1] == 0:
                x = denoised
                break
            ratio = (s[i + 1] / s[i]) ** 2
            std = s[i + 1] * math.sqrt(1 - ratio)
            x_unknown = denoised + ratio * (x - denoised) + std * space.randn_like(x, generator)
            x_known = known + s[i + 1] * space.randn_like(x, generator)
            x = space.project(torch.where(mask, x_known, x_unknown))
            if u < resamples - 1:
                jump = math.sqrt(s[i] ** 2 - s[i + 1] ** 2)
                x = space.project(x + jump * space.randn_like(x, generator))
    return run.finish(x)
