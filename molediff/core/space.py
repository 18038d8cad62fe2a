"""Spaces: where a diffusion variable lives.

A space knows how to draw noise, how to project a tensor back onto the space after an
update, how to broadcast a per-sample noise level to elements and how to reduce per
sample. Samplers and losses never call ``torch.randn_like`` themselves: they ask the
space, so the same sampler code runs on image batches and on batches of centred graphs.
"""

from __future__ import annotations

from typing import Protocol

import torch
from torch import Tensor


class Space(Protocol):
    """What samplers, losses and guidance need to know about a variable ``x``."""

    num_samples: int

    def randn_like(self, x: Tensor, generator: torch.Generator | None = None) -> Tensor:
        """Standard normal noise shaped like ``x``, already projected onto the space."""

    def project(self, x: Tensor) -> Tensor:
        """Map ``x`` onto the space (identity for dense tensors)."""

    def expand(self, sigma: Tensor | float) -> Tensor:
        """Scalar or per-sample ``[B]`` sigma -> a tensor broadcastable against ``x``."""

    def reduce(self, v: Tensor) -> Tensor:
        """Per-sample sums ``[B]`` of an ``x``-shaped tensor."""

    def collapse(self, sigma: Tensor) -> Tensor:
        """Inverse of ``expand``: per-sample ``[B]`` values of an expanded sigma."""

    def loss_mask(self, x: Tensor) -> Tensor:
        """Weights broadcastable to ``x``: 0 where elements are fixed, else 1."""

    def dof(self, x: Tensor) -> Tensor:
        """Degrees of freedom of each sample of ``x``, ``[B]``."""


def _randn(shape: torch.Size, like: Tensor, generator: torch.Generator | None) -> Tensor:
    return torch.randn(shape, generator=generator, device=like.device, dtype=like.dtype)


class DenseSpace:
    """Plain ``[B, ...]`` tensors: images, spectrograms, vectors.

    Args:
        batch_size: number of samples ``B``.
        sample_ndim: number of dimensions of one sample (3 for ``[C, H, W]``).
    """

    def __init__(self, batch_size: int, sample_ndim: int = 1):
        self.num_samples = int(batch_size)
        self.sample_ndim = int(sample_ndim)

    def randn_like(self, x: Tensor, generator: torch.Generator | None = None) -> Tensor:
        return _randn(x.shape, x, generator)

    def project(self, x: Tensor) -> Tensor:
        return x

    def expand(self, sigma: Tensor | float) -> Tensor:
        sigma = torch.as_tensor(sigma)
        ndim = 1 + self.sample_ndim
        if sigma.ndim == 0:
            return sigma.reshape((1,) * ndim)
        return sigma.reshape(-1, *([1] * (ndim - 1)))

    def reduce(self, v: Tensor) -> Tensor:
        return v.reshape(v.shape[0], -1).sum(dim=1)

    def collapse(self, sigma: Tensor) -> Tensor:
        return torch.as_tensor(sigma).reshape(-1).expand(self.num_samples)

    def loss_mask(self, x: Tensor) -> Tensor:
        return x.new_ones(())

    def dof(self, x: Tensor) -> Tensor:
        return torch.full((x.shape[0],), float(x[0].numel()), dtype=x.dtype, device=x.device)

    @classmethod
    def like(cls, x: Tensor) -> DenseSpace:
        """The dense space of a ``[B, ...]`` tensor."""
        return cls(x.shape[0], x.ndim - 1)


class GraphSpace:
    """Node tensors ``x: [N, D]`` of a batch of graphs whose coordinates stay centred.

    Columns ``0:coord_dims`` hold coordinates (Å); they are kept at zero centre of mass per
    graph. The remaining columns (atom-type one-hots, charges, ...) are left alone.

    Args:
        batch: ``LongTensor[N]``, graph index of each node (PyG's ``batch``), values in
            ``[0, num_graphs)``.
        num_graphs: number of graphs ``B``.
        coord_dims: number of leading coordinate columns (3, or 3·V for V vector channels
            per node, each channel centred separately).
        fixed_mask: optional ``BoolTensor[N]``; fixed nodes get no noise and, when a graph
            has any, they define that graph's centre (so projecting never moves them).
        ref_mask: optional ``BoolTensor[N]``; nodes whose mean defines the centre
            (e.g. a motif). Overrides the fixed-node default. A graph with no reference
            node is centred on all of its nodes.
    """

    def __init__(
        self,
        batch: Tensor,
        num_graphs: int,
        coord_dims: int = 3,
        fixed_mask: Tensor | None = None,
        ref_mask: Tensor | None = None,
    ):
        if batch.ndim != 1:
            raise ValueError(f"batch must be a 1-D node->graph index, got shape {tuple(batch.shape)}")
        if coord_dims % 3:
            raise ValueError(f"coord_dims must be a multiple of 3, got {coord_dims}")
        self.batch = batch.long()
        self.num_samples = int(num_graphs)
        self.coord_dims = coord_dims
        n = batch.numel()
        self.fixed_mask = None if fixed_mask is None else fixed_mask.bool().reshape(n)
        if ref_mask is None and self.fixed_mask is not None:
            ref_mask = self.fixed_mask
        ref = torch.ones(n, dtype=torch.bool, device=batch.device) if ref_mask is None else ref_mask.bool()
        # A graph with no reference node falls back to all of its nodes.
        has_ref = self._count(ref.float()) > 0
        self.ref_mask = ref | ~has_ref[self.batch]
        self._ref_count = self._count(self.ref_mask.float()).clamp_min(1.0)
        self.nodes_per_graph = self._count(torch.ones(n, device=batch.device))

    def _count(self, v: Tensor) -> Tensor:
        out = torch.zeros(self.num_samples, device=v.device, dtype=v.dtype)
        return out.index_add_(0, self.batch, v)

    @classmethod
    def from_sizes(cls, sizes: list[int] | Tensor, **kwargs) -> GraphSpace:
        """Space for graphs of the given node counts, nodes stored graph after graph."""
        sizes = torch.as_tensor(sizes)
        batch = torch.repeat_interleave(torch.arange(len(sizes)), sizes)
        return cls(batch, len(sizes), **kwargs)

    def _check(self, x: Tensor) -> None:
        if x.ndim != 2 or x.shape[0] != self.batch.numel() or x.shape[1] < self.coord_dims:
            raise ValueError(
                f"GraphSpace expects x of shape [N={self.batch.numel()}, D>={self.coord_dims}], "
                f"got {tuple(x.shape)}"
            )

    def centre(self, x: Tensor) -> Tensor:
        """Per-graph centre of the coordinate columns, ``[B, coord_dims]``."""
        coords = x[:, : self.coord_dims] * self.ref_mask.unsqueeze(-1).to(x.dtype)
        sums = torch.zeros(self.num_samples, self.coord_dims, dtype=x.dtype, device=x.device)
        sums.index_add_(0, self.batch, coords)
        return sums / self._ref_count.to(x.dtype).unsqueeze(-1)

    def project(self, x: Tensor) -> Tensor:
        self._check(x)
        if self.coord_dims == 0:
            return x
        centre = self.centre(x)
        # Every coordinate column has its own centre, so each vector channel (e.g. the N,
        # CA, C, O of a residue) is centred on its own.
        shift = centre[self.batch]
        if x.shape[1] == self.coord_dims:
            return x - shift
        return torch.cat([x[:, : self.coord_dims] - shift, x[:, self.coord_dims :]], dim=1)

    def randn_like(self, x: Tensor, generator: torch.Generator | None = None) -> Tensor:
        self._check(x)
        eps = _randn(x.shape, x, generator)
        if self.fixed_mask is not None:
            eps = eps * (~self.fixed_mask).unsqueeze(-1).to(x.dtype)
        return self.project(eps)

    def expand(self, sigma: Tensor | float) -> Tensor:
        sigma = torch.as_tensor(sigma, device=self.batch.device)
        if sigma.ndim == 0:
            return sigma.reshape(1, 1)
        if sigma.shape[0] != self.num_samples:
            raise ValueError(f"expected {self.num_samples} per-graph sigmas, got {sigma.shape[0]}")
        return sigma[self.batch].unsqueeze(-1)

    def collapse(self, sigma: Tensor) -> Tensor:
        sigma = torch.as_tensor(sigma).reshape(-1)
        if sigma.numel() == 1:
            return sigma.expand(self.num_samples)
        out = torch.zeros(self.num_samples, dtype=sigma.dtype, device=sigma.device)
        out.index_add_(0, self.batch, sigma)
        return out / self.nodes_per_graph.to(sigma.dtype).clamp_min(1)

    def reduce(self, v: Tensor) -> Tensor:
        self._check(v)
        out = torch.zeros(self.num_samples, dtype=v.dtype, device=v.device)
        return out.index_add_(0, self.batch, v.sum(dim=1))

    def loss_mask(self, x: Tensor) -> Tensor:
        if self.fixed_mask is None:
            return x.new_ones(())
        return (~self.fixed_mask).unsqueeze(-1).to(x.dtype)

    def dof(self, x: Tensor) -> Tensor:
        """``coord_dims·(n_free - 1) + features·n_free`` per graph: ``3(n - 1)`` for plain
        coordinates. Centring removes one vector per channel, unless fixed nodes (which
        have no freedom of their own) define the centre."""
        free = torch.ones_like(self.batch, dtype=x.dtype)
        if self.fixed_mask is not None:
            free = free * (~self.fixed_mask).to(x.dtype)
        n_free = self._count(free)
        centred_on_free = (self._count(self.ref_mask.to(x.dtype) * free) > 0).to(x.dtype)
        coord = self.coord_dims * (n_free - centred_on_free)
        return coord + (x.shape[1] - self.coord_dims) * n_free
