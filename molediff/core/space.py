"""Spaces: where a diffusion variable lives.

A space knows how to draw noise, how to project a tensor back onto the space after an
update, how to broadcast a per-sample noise level to elements and how to reduce per
sample. Samplers and losses never call ``torch.randn_like`` themselves: they ask the
space, so the same sampler code runs on image batches and on batches of centred graphs.

Both spaces take optional ``sample_seeds`` (one integer per sample). With them every sample
draws its noise from a stream of its own, so a sample's result depends on its seed (see
:func:`sample_seed`) and its own shape, not on the batch size or on what else is batched
with it: a molecule's conformers depend only on (seed, molecule, conformer index).
"""

from __future__ import annotations

import hashlib
import operator
from collections.abc import Sequence
from typing import Protocol

import torch
from torch import Tensor


class Space(Protocol):
    """What samplers, losses and guidance need to know about a variable ``x``."""

    num_samples: int

    def randn_like(self, x: Tensor, generator: torch.Generator | None = None) -> Tensor:
        """Standard normal noise shaped like ``x``, already projected onto the space.

        Drawn from ``generator``, or, when the space has per-sample seeds, from each
        sample's own stream (``generator`` is then ignored)."""

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


# Domain tag of the hash: changing the derivation must change this tag (and every seed).
_SEED_TAG = b"molediff.sample_seed/v1"


def sample_seed(base_seed: int, *keys: int | str) -> int:
    """A 63-bit seed derived from ``base_seed`` and ``keys``, e.g.
    ``sample_seed(0, canonical_smiles, conformer_index)``.

    Stable across processes, platforms and Python versions (SHA-256 of an unambiguous
    encoding, never ``hash()``, which is salted per process). Integer and string keys are
    told apart (``1`` and ``"1"`` give different seeds), as are ``("ab", "c")`` and
    ``("a", "bc")``. The result lies in ``[0, 2**63)``, so it fits an int64 tensor and
    ``torch.Generator.manual_seed``.

    Raises:
        TypeError: ``base_seed`` is not an integer, or a key is neither an integer nor a string.
    """
    h = hashlib.sha256(_SEED_TAG)
    for i, part in enumerate((base_seed, *keys)):
        if isinstance(part, str) and i > 0:
            tag, data = b"s", part.encode("utf-8")
        else:
            try:
                value = operator.index(part)
            except TypeError:
                what = "base_seed" if i == 0 else f"key {i - 1}"
                raise TypeError(f"sample_seed: {what} must be an int or a str, got "
                                f"{type(part).__name__}") from None
            tag, data = b"i", str(value).encode("ascii")
        # Length-prefixed fields, so no two different key tuples share a byte string.
        h.update(tag + len(data).to_bytes(8, "big") + data)
    return int.from_bytes(h.digest()[:8], "big") >> 1


class _SampleStreams:
    """One ``torch.Generator`` per sample, seeded from that sample's seed.

    The generators are created on the first draw on a device (generators are bound to a
    device) and then kept, so successive draws continue every sample's stream.
    """

    def __init__(self, seeds: Sequence[int] | Tensor, num_samples: int):
        t = torch.as_tensor(seeds).detach().cpu().reshape(-1)
        # Refuse floats rather than truncate them: 1.5 and 1.7 would share a stream.
        if t.numel() and (t.is_floating_point() or t.is_complex() or t.dtype == torch.bool):
            raise TypeError(f"sample_seeds must be integers, got {t.dtype}")
        self.seeds = t.to(torch.int64)
        if self.seeds.numel() != num_samples:
            raise ValueError(
                f"expected one sample seed per sample ({num_samples}), got {self.seeds.numel()}"
            )
        self._generators: dict[torch.device, list[torch.Generator]] = {}

    def generators(self, device: torch.device) -> list[torch.Generator]:
        gens = self._generators.get(device)
        if gens is None:
            gens = [torch.Generator(device=device).manual_seed(s) for s in self.seeds.tolist()]
            self._generators[device] = gens
        return gens

    def draw(self, shapes: Sequence[tuple[int, ...]], like: Tensor) -> list[Tensor]:
        """One standard normal tensor per sample, ``shapes[i]`` from sample ``i``'s stream."""
        gens = self.generators(like.device)
        return [
            torch.randn(shape, generator=g, device=like.device, dtype=like.dtype)
            for shape, g in zip(shapes, gens, strict=True)
        ]


class DenseSpace:
    """Plain ``[B, ...]`` tensors: images, spectrograms, vectors.

    Args:
        batch_size: number of samples ``B``.
        sample_ndim: number of dimensions of one sample (3 for ``[C, H, W]``).
        sample_seeds: optional ``B`` integer seeds (int64 range, e.g. from
            :func:`sample_seed`). When given, sample ``i``'s noise comes from a generator of
            its own seeded with ``sample_seeds[i]`` and ``randn_like`` ignores its
            ``generator`` argument: each sample's noise then depends only on its seed, its
            shape, dtype and device, and on how many draws came before on this space.
    """

    def __init__(
        self,
        batch_size: int,
        sample_ndim: int = 1,
        sample_seeds: Sequence[int] | Tensor | None = None,
    ):
        self.num_samples = int(batch_size)
        self.sample_ndim = int(sample_ndim)
        self._streams = None
        if sample_seeds is not None:
            self._streams = _SampleStreams(sample_seeds, self.num_samples)

    @property
    def sample_seeds(self) -> Tensor | None:
        """The per-sample seeds, ``LongTensor[B]`` on the CPU, or ``None``."""
        return None if self._streams is None else self._streams.seeds

    def raw_randn(self, x: Tensor, generator: torch.Generator | None = None) -> Tensor:
        """Standard normal noise shaped like ``x`` (dimensionless), from the per-sample
        streams when the space is seeded, else from ``generator``."""
        if self._streams is None:
            return _randn(x.shape, x, generator)
        if x.ndim == 0 or x.shape[0] != self.num_samples:
            raise ValueError(f"DenseSpace expects x of shape [B={self.num_samples}, ...], "
                             f"got {tuple(x.shape)}")
        if self.num_samples == 0:
            return torch.zeros_like(x)  # nothing to draw (stack needs at least one tensor)
        return torch.stack(self._streams.draw([tuple(x.shape[1:])] * self.num_samples, x))

    def randn_like(self, x: Tensor, generator: torch.Generator | None = None) -> Tensor:
        return self.raw_randn(x, generator)

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
    def like(cls, x: Tensor, sample_seeds: Sequence[int] | Tensor | None = None) -> DenseSpace:
        """The dense space of a ``[B, ...]`` tensor (with optional per-sample seeds)."""
        return cls(x.shape[0], x.ndim - 1, sample_seeds=sample_seeds)


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
        sample_seeds: optional ``B`` integer seeds, one per graph (int64 range, e.g. from
            :func:`sample_seed`). When given, graph ``g``'s noise rows come from a
            generator of its own seeded with ``sample_seeds[g]`` (in the graph's node order)
            and ``randn_like`` ignores its ``generator`` argument, so they depend only on
            the seed, the graph's ``[n_g, D]`` shape, dtype and device, and the number of
            draws before on this space; not on the other graphs of the batch.
    """

    def __init__(
        self,
        batch: Tensor,
        num_graphs: int,
        coord_dims: int = 3,
        fixed_mask: Tensor | None = None,
        ref_mask: Tensor | None = None,
        sample_seeds: Sequence[int] | Tensor | None = None,
    ):
        if batch.ndim != 1:
            raise ValueError(
                f"batch must be a 1-D node->graph index, got shape {tuple(batch.shape)}"
            )
        if coord_dims % 3:
            raise ValueError(f"coord_dims must be a multiple of 3, got {coord_dims}")
        self.batch = batch.long()
        self.num_samples = int(num_graphs)
        self.coord_dims = coord_dims
        n = batch.numel()
        self.fixed_mask = None if fixed_mask is None else fixed_mask.bool().reshape(n)
        if ref_mask is None and self.fixed_mask is not None:
            ref_mask = self.fixed_mask
        if ref_mask is None:
            ref = torch.ones(n, dtype=torch.bool, device=batch.device)
        else:
            ref = ref_mask.bool()
        # A graph with no reference node falls back to all of its nodes.
        has_ref = self._count(ref.float()) > 0
        self.ref_mask = ref | ~has_ref[self.batch]
        self._ref_count = self._count(self.ref_mask.float()).clamp_min(1.0)
        self.nodes_per_graph = self._count(torch.ones(n, device=batch.device))
        self._streams = None
        if sample_seeds is not None:
            self._streams = _SampleStreams(sample_seeds, self.num_samples)
            # Read the layout into Python once (one device sync here, none per draw).
            self._sizes = torch.bincount(self.batch, minlength=self.num_samples).tolist()
            # Per-graph draws are concatenated graph after graph; nodes not stored that way
            # are put back in place through the stable sort (node order kept within a graph).
            ordered = n < 2 or bool((self.batch[1:] >= self.batch[:-1]).all())
            self._order = None if ordered else torch.sort(self.batch, stable=True).indices

    def _count(self, v: Tensor) -> Tensor:
        out = torch.zeros(self.num_samples, device=v.device, dtype=v.dtype)
        return out.index_add_(0, self.batch, v)

    @property
    def sample_seeds(self) -> Tensor | None:
        """The per-graph seeds, ``LongTensor[B]`` on the CPU, or ``None``."""
        return None if self._streams is None else self._streams.seeds

    @classmethod
    def from_sizes(cls, sizes: list[int] | Tensor, **kwargs) -> GraphSpace:
        """Space for graphs of the given node counts, nodes stored graph after graph;
        ``kwargs`` (``coord_dims``, ``fixed_mask``, ``sample_seeds``, ...) go to the
        constructor."""
        sizes = torch.as_tensor(sizes, dtype=torch.long)  # an empty list would be float
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

    def raw_randn(self, x: Tensor, generator: torch.Generator | None = None) -> Tensor:
        """Unprojected standard normal noise shaped like ``x`` (dimensionless), from the
        per-graph streams when the space is seeded, else from ``generator``. For subclasses
        that project noise their own way; samplers call :meth:`randn_like`."""
        self._check(x)
        if self._streams is None:
            return _randn(x.shape, x, generator)
        # Whole-graph draws, so a graph's rows never depend on where it sits in the batch.
        if self.num_samples == 0:
            return torch.zeros_like(x)  # no graphs, no nodes (cat needs at least one tensor)
        d = x.shape[1]
        eps = torch.cat(self._streams.draw([(n, d) for n in self._sizes], x))
        if self._order is not None:
            eps = torch.empty_like(eps).index_copy_(0, self._order.to(x.device), eps)
        return eps

    def randn_like(self, x: Tensor, generator: torch.Generator | None = None) -> Tensor:
        eps = self.raw_randn(x, generator)
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
