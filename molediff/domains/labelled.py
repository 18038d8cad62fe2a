"""Shared plumbing of dense domains whose items are ``(x, class label)`` pairs."""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor

from molediff.core.space import DenseSpace
from molediff.domains.base import Domain


class LabelledDenseDomain(Domain):
    """A :class:`Domain` over ``(x [B, ...], label [B])`` batches on a
    :class:`~molediff.core.space.DenseSpace`, with one extra *null* label for
    classifier-free guidance.

    A subclass sets ``self.conditional`` (train and sample with labels, else ``cond`` is
    ``None``) and provides ``null_label`` (the label id meaning "no condition", usually
    the number of classes); ``cond_dropout`` comes from :class:`Domain`.
    """

    conditional: bool = True
    num_classes: int
    shape: tuple[int, ...]

    @property
    def null_label(self) -> int:
        raise NotImplementedError

    def parse_labels(self, condition: Any) -> list[int]:
        """A user's condition -> class labels (the domain's own vocabulary and errors)."""
        raise NotImplementedError

    def labels_for(self, n: int, condition: Any = None) -> Tensor:
        """The label of each of ``n`` samples: every class in turn (``condition=None``),
        else the labels :meth:`parse_labels` reads from ``condition``, repeated."""
        if condition is None:
            return torch.arange(n) % self.num_classes
        wanted = torch.as_tensor(self.parse_labels(condition), dtype=torch.long)
        return wanted.repeat((n + len(wanted) - 1) // len(wanted))[:n]

    def template_labels(self, n: int, condition: Any = None) -> Tensor | None:
        """The labels :meth:`template` gives ``n`` samples: :meth:`labels_for`, or ``None``
        for an unconditional model (which then ignores ``condition``)."""
        return self.labels_for(n, condition) if self.conditional else None

    def template(
        self,
        n: int,
        *,
        condition: Any = None,
        generator: torch.Generator | None = None,
        device: torch.device | str = "cpu",
    ) -> tuple[Tensor, Any, DenseSpace]:
        """Zeros of ``self.shape`` and :meth:`template_labels` on ``device``."""
        x = torch.zeros((n, *self.shape), device=device)
        labels = self.template_labels(n, condition)
        return x, (None if labels is None else labels.to(device)), DenseSpace.like(x)

    def batch_to(self, batch: Any) -> tuple[Tensor, Any, DenseSpace]:
        x0, y = batch
        return x0, (y if self.conditional else None), DenseSpace.like(x0)

    def drop_condition(self, cond: Any, generator: torch.Generator | None = None) -> Any:
        """Each label becomes the null label with probability ``cond_dropout``."""
        if cond is None or self.cond_dropout <= 0:
            return cond
        drop = torch.rand(cond.shape, generator=generator, device=cond.device) < self.cond_dropout
        return torch.where(drop, torch.full_like(cond, self.null_label), cond)

    def null_cond(self, cond: Any) -> Any:
        return None if cond is None else torch.full_like(cond, self.null_label)
