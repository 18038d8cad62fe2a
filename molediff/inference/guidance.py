"""Guidance as configured in ``conf/guidance``: an object that wraps the denoiser for one
batch (classifier-free guidance needs that batch's null condition from the domain)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from torch import Tensor

from molediff.core.guidance import classifier_free
from molediff.domains.base import Domain

DenoiserFn = Callable[[Tensor, Tensor, Any], Tensor]


class Guidance:
    """Base guidance: wraps the denoiser for one batch (needs the batch's condition)."""

    def wrap(self, denoiser: DenoiserFn, domain: Domain, cond: Any) -> DenoiserFn:
        return denoiser


class NoGuidance(Guidance):
    """The plain conditional (or unconditional) model."""

    def __repr__(self) -> str:
        return "NoGuidance()"


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
