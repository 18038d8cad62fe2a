"""Input validation and output assembly shared by the graph denoisers.

Network contract (docs/CONTRACTS.md): ``net(x_in [N, D], c_noise [N, 1], cond) -> [N, D]``
with ``V`` vector channels in columns ``0:3V`` (Å, channel ``v`` in ``3v:3v+3``) and
scalar features after.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

from molediff.nn.edge_builder import get_num_graphs

__all__ = ["GraphInputs", "parse_inputs", "center_per_graph", "segment_mean"]


@dataclass
class GraphInputs:
    x: Tensor  # [N, V, 3] coordinates, Å
    feats: Tensor  # [N, D - 3V] scalar features
    c_noise: Tensor  # [N, 1]
    batch: Tensor  # [N]
    num_graphs: int


def parse_inputs(
    x_in: Tensor, c_noise: Tensor, cond, in_features: int, vector_channels: int
) -> GraphInputs:
    """Check shapes (``ValueError`` on mismatch) and split ``x_in``. No host sync."""
    if x_in.dim() != 2 or x_in.shape[1] != in_features:
        raise ValueError(f"x_in must be [N, {in_features}], got {tuple(x_in.shape)}")
    n = x_in.shape[0]
    if cond is None or getattr(cond, "batch", None) is None:
        raise ValueError("cond must carry `batch` (node -> graph index)")
    batch = cond.batch
    if batch.shape != (n,):
        raise ValueError(f"cond.batch must be [{n}], got {tuple(batch.shape)}")
    c_noise = torch.as_tensor(c_noise, dtype=x_in.dtype, device=x_in.device)
    if c_noise.numel() == 1:
        c_noise = c_noise.reshape(1, 1).expand(n, 1)
    elif c_noise.shape in ((n,), (n, 1)):
        c_noise = c_noise.reshape(n, 1)
    else:
        raise ValueError(f"c_noise must be [N, 1] with N={n}, got {tuple(c_noise.shape)}")
    v3 = 3 * vector_channels
    x = x_in[:, :v3].reshape(n, vector_channels, 3)
    return GraphInputs(x, x_in[:, v3:], c_noise, batch, get_num_graphs(cond, batch))


def segment_mean(v: Tensor, batch: Tensor, num_graphs: int) -> Tensor:
    """Per-graph mean of node rows ``v [N, ...]`` -> ``[B, ...]`` (empty graphs -> 0)."""
    width = 1
    for d in v.shape[1:]:
        width *= d
    flat = v.reshape(v.shape[0], width)
    s = flat.new_zeros(num_graphs, flat.shape[1]).index_add_(0, batch, flat)
    cnt = torch.zeros(num_graphs, dtype=v.dtype, device=v.device).index_add_(
        0, batch, torch.ones_like(batch, dtype=v.dtype)
    )
    return (s / cnt.clamp_min(1)[:, None]).reshape(num_graphs, *v.shape[1:])


def center_per_graph(delta: Tensor, batch: Tensor, num_graphs: int) -> Tensor:
    """Subtract each graph's mean from ``delta [N, ...]`` (per column, as ``GraphSpace``)."""
    return delta - segment_mean(delta, batch, num_graphs)[batch]
