"""Noise-level (time) and conditioning embeddings for node-level networks."""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn

__all__ = ["FourierEmbedding", "NoiseEmbedding", "ConditionEmbedding"]


class FourierEmbedding(nn.Module):
    """Sinusoidal features ``[cos(2 pi f c), sin(2 pi f c)]`` of a scalar ``c``.

    Frequencies are log-spaced in ``[1/max_period, 1]``·``scale``; ``c`` is the
    preconditioned noise level ``c_noise = log(sigma) / 4`` (dimensionless), which
    lives in roughly ``[-3, 2]``.
    """

    def __init__(self, dim: int, scale: float = 16.0, max_period: float = 1e3) -> None:
        super().__init__()
        if dim % 2:
            raise ValueError(f"FourierEmbedding dim must be even, got {dim}")
        half = dim // 2
        freqs = scale * torch.exp(-math.log(max_period) * torch.arange(half) / max(half - 1, 1))
        self.register_buffer("freqs", freqs, persistent=False)

    def forward(self, c: Tensor) -> Tensor:
        """``c: [N, 1]`` or ``[N]`` -> ``[N, dim]``."""
        arg = c.reshape(-1, 1) * self.freqs.to(c.dtype)
        return torch.cat([torch.cos(arg), torch.sin(arg)], dim=-1)


class NoiseEmbedding(nn.Module):
    """Fourier features of ``c_noise`` followed by a two-layer MLP (as in EDM / DDPM++)."""

    def __init__(self, out_dim: int, fourier_dim: int = 64) -> None:
        super().__init__()
        self.fourier = FourierEmbedding(fourier_dim)
        self.mlp = nn.Sequential(
            nn.Linear(fourier_dim + 1, out_dim), nn.SiLU(), nn.Linear(out_dim, out_dim)
        )

    def forward(self, c_noise: Tensor) -> Tensor:
        c = c_noise.reshape(-1, 1)
        # the raw value is kept too: EDM's EGNN only sees t itself, and a linear path
        # makes the embedding informative even at untrained initialisation
        return self.mlp(torch.cat([c, self.fourier(c)], dim=-1))


class ConditionEmbedding(nn.Module):
    """Embeds optional node conditioning ``h [N, cond_features]`` and graph conditioning
    ``y [B, graph_features]`` (broadcast to nodes through ``batch``) into ``out_dim``.

    Returns zeros when neither is configured, so callers can always add the result.
    """

    def __init__(self, out_dim: int, cond_features: int = 0, graph_features: int = 0) -> None:
        super().__init__()
        self.cond_features = cond_features
        self.graph_features = graph_features
        self.node = nn.Linear(cond_features, out_dim) if cond_features else None
        self.graph = (
            nn.Sequential(nn.Linear(graph_features, out_dim), nn.SiLU(), nn.Linear(out_dim, out_dim))
            if graph_features
            else None
        )

    def forward(self, cond, batch: Tensor, num_nodes: int, dtype: torch.dtype) -> Tensor | None:
        """Return ``[N, out_dim]`` or ``None`` when nothing is conditioned on."""
        out = None
        if self.node is not None:
            h = getattr(cond, "h", None)
            if h is None:
                raise ValueError(f"cond.h is required (cond_features={self.cond_features})")
            if h.dim() == 1:
                h = h[:, None]
            if h.shape != (num_nodes, self.cond_features):
                raise ValueError(
                    f"cond.h must be [{num_nodes}, {self.cond_features}], got {tuple(h.shape)}"
                )
            out = self.node(h.to(dtype))
        if self.graph is not None:
            y = getattr(cond, "y", None)
            if y is None:
                raise ValueError(f"cond.y is required (graph_cond_features={self.graph_features})")
            y = y.reshape(-1, self.graph_features).to(dtype)
            g = self.graph(y)[batch]
            out = g if out is None else out + g
        return out
