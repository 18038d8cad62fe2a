"""Backbone -> PyG graph: what the denoiser sees besides the coordinates.

- node features ``h [L, NODE_FEATURES]``: sinusoidal embedding of the residue's position in
  its chain (``POSITION_FREQUENCIES`` frequencies), chain-start and chain-end flags, and a
  motif flag (1 on residues held fixed, so a model trained with random motifs knows
  which residues are given);
- given edges ``edge_index`` / ``edge_attr [E, EDGE_FEATURES]``: every pair within
  ``WINDOW`` residues of the same chain with a one-hot of the signed sequence offset
  (relative sequence position); the network unites them with kNN edges on the residue
  centres, so a residue has at most ``k + 2·WINDOW`` neighbours and memory grows linearly
  with length;
- ``chain [L]``: chain index (no sequence edge crosses chains).
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

#: sequence offsets up to this many residues get a relative-position edge
WINDOW = 8
#: frequencies of the sinusoidal residue-position embedding
POSITION_FREQUENCIES = 8
#: width of ``h``: sin/cos position, chain start, chain end, motif flag
NODE_FEATURES = 2 * POSITION_FREQUENCIES + 3
#: width of ``edge_attr``: one-hot of offsets -WINDOW..-1, 1..WINDOW
EDGE_FEATURES = 2 * WINDOW
#: column of the motif flag in ``h``
MOTIF_COLUMN = NODE_FEATURES - 1


def position_features(index: Tensor) -> Tensor:
    """``[L, 2F]`` sin/cos of the residue index (periods 2π·1 .. 2π·1000 residues)."""
    f = POSITION_FREQUENCIES
    freqs = torch.exp(-math.log(1000.0) * torch.arange(f, dtype=torch.float32) / (f - 1))
    arg = index.float()[:, None] * freqs[None]
    return torch.cat([torch.sin(arg), torch.cos(arg)], 1)


def node_features(chain: Tensor, motif: Tensor | None = None) -> tuple[Tensor, Tensor]:
    """``(h [L, NODE_FEATURES], residue index within chain [L])`` for residues whose chain
    indices ``chain [L]`` are contiguous runs."""
    n = chain.numel()
    index = torch.zeros(n, dtype=torch.long)
    start = torch.ones(n, dtype=torch.bool)
    if n > 1:
        start[1:] = chain[1:] != chain[:-1]
    end = torch.roll(start, -1)
    if n:
        end[-1] = True
    run_start = torch.cummax(torch.where(start, torch.arange(n), torch.zeros(n, dtype=torch.long)),
                             0).values
    index = torch.arange(n) - run_start
    m = torch.zeros(n) if motif is None else motif.float()
    h = torch.cat([position_features(index), start.float()[:, None], end.float()[:, None],
                   m[:, None]], 1)
    return h, index


def window_edges(chain: Tensor) -> tuple[Tensor, Tensor]:
    """Pairs within ``WINDOW`` residues of one chain, both directions, as
    ``(edge_index [2, E] (source, target), edge_attr [E, EDGE_FEATURES])``."""
    n = chain.numel()
    srcs, dsts, cols = [], [], []
    for off in range(1, WINDOW + 1):
        if off >= n:
            break
        a = torch.arange(n - off)
        b = a + off
        same = chain[a] == chain[b]
        a, b = a[same], b[same]
        # source - target = +off for (b -> a), -off for (a -> b)
        srcs += [b, a]
        dsts += [a, b]
        cols += [torch.full_like(a, WINDOW + off - 1), torch.full_like(a, WINDOW - off)]
    if not srcs:
        return torch.zeros(2, 0, dtype=torch.long), torch.zeros(0, EDGE_FEATURES)
    col = torch.cat(cols)
    attr = torch.nn.functional.one_hot(col, EDGE_FEATURES).float()
    return torch.stack([torch.cat(srcs), torch.cat(dsts)]), attr


__all__ = ["WINDOW", "NODE_FEATURES", "EDGE_FEATURES", "MOTIF_COLUMN", "position_features",
           "node_features", "window_edges"]
