"""Sampling glue shared by the training callback, ``molediff sample`` and ``evaluate``:
a sampler spec (name, steps, options) from ``conf/sampler``, guidance transforms from
``conf/guidance``, and :func:`generate`, which draws samples chunk by chunk through the
domain interface."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
from torch import Tensor

from molediff.core.guidance import classifier_free
from molediff.core.samplers import SamplerSpec, sample
from molediff.core.schedules import Schedule
from molediff.domains.base import Domain

DenoiserFn = Callable[[Tensor, Tensor, Any], Tensor]


class Guidance:
    """Base guidance: wraps the denoiser for one batch (needs the batch's condition)."""

    def wrap(self, denoiser: DenoiserFn, domain: Domain, cond: Any) -> DenoiserFn:
        return denoiser


class NoGuidance(Guidance):
    """The plain conditional (or unconditional) model."""


class ClassifierFreeGuidance(Guidance):
    """Classifier-free guidance with the domain's null condition.

    Args:
        scale: ``1`` is the conditional model, ``0`` the unconditional, ``> 1`` sharpens.
    """

    def __init__(self, scale: float = 2.0) -> None:
        self.scale = float(scale)

    def wrap(self, denoiser: DenoiserFn, domain: Domain, cond: Any) -> DenoiserFn:
        return classifier_free(denoiser, self.scale, null_cond=domain.null_cond(cond))

    def __repr__(self) -> str:
        return f"ClassifierFreeGuidance(scale={self.scale})"


@torch.no_grad()
def generate(
    denoiser: torch.nn.Module,
    domain: Domain,
    schedule: Schedule,
    sampler: SamplerSpec,
    guidance: Guidance | None = None,
    *,
    num_samples: int,
    batch_size: int = 256,
    seed: int = 0,
    condition: Any = None,
    device: torch.device | str = "cpu",
) -> tuple[Any, dict[str, float]]:
    """Draw ``num_samples`` samples with ``denoiser`` (put in eval mode by the caller).

    Deterministic for a fixed ``seed`` (own generator; the global RNG is not touched).

    Returns:
        The merged decoded samples and ``{"nfe": ..., "sampling_seconds": ...}``.
    """
    import time

    guidance = guidance or NoGuidance()
    gen = torch.Generator(device=device).manual_seed(int(seed))
    sigmas = schedule.sigmas(sampler.steps).to(device)
    parts, nfe = [], 0
    start = time.perf_counter()
    done = 0
    while done < num_samples:
        n = min(batch_size, num_samples - done)
        template, cond, space = domain.template(n, condition=condition, generator=gen, device=device)
        fn = guidance.wrap(denoiser, domain, cond)
        x, calls = sample(
            sampler.fn, fn, template.float(), sigmas.float(), space=space, cond=cond, generator=gen,
            **sampler.options,
        )
        nfe = calls
        parts.append(domain.decode(x, cond, space))
        done += n
    stats = {"nfe": float(nfe), "sampling_seconds": time.perf_counter() - start}
    return domain.merge_samples(parts), stats
