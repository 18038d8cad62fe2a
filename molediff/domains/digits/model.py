"""A small residual MLP denoiser network for 8×8 digits (fast on a CPU).

Network contract (docs/CONTRACTS.md): ``net(x_in, c_noise, cond) -> F`` with
``F.shape == x_in.shape``; ``cond`` is a ``LongTensor[B]`` of labels, ``num_classes``
meaning "no label" (classifier-free guidance), or ``None``.
"""

from __future__ import annotations

import math

from torch import Tensor, nn
from torch.nn import functional as F

from molediff.nn.unet import ClassEmbedding, NoiseLevelEmbedding

__all__ = ["DigitsMLP"]


class _Block(nn.Module):
    def __init__(self, dim: int, emb_dim: int) -> None:
        super().__init__()
        self.norm = nn.LayerNorm(dim)
        self.fc1 = nn.Linear(dim, dim)
        self.emb = nn.Linear(emb_dim, 2 * dim)
        self.fc2 = nn.Linear(dim, dim)
        nn.init.zeros_(self.fc2.weight)
        nn.init.zeros_(self.fc2.bias)

    def forward(self, h: Tensor, emb: Tensor) -> Tensor:
        scale, shift = self.emb(emb).chunk(2, dim=-1)
        z = self.norm(h) * (1 + scale) + shift
        return h + self.fc2(F.silu(self.fc1(F.silu(z))))


class DigitsMLP(nn.Module):
    """Residual MLP on flattened images, FiLM-conditioned on noise level and class.

    Args:
        in_channels, height, width: image shape (filled in by the domain).
        num_classes: labels (0: unconditional); the domain fills it in.
        hidden: width of the residual stream.
        depth: number of residual blocks.
        emb_dim: width of the noise/class embedding.
    """

    def __init__(
        self,
        in_channels: int = 1,
        height: int = 8,
        width: int = 8,
        num_classes: int = 0,
        hidden: int = 256,
        depth: int = 3,
        emb_dim: int = 128,
    ) -> None:
        super().__init__()
        self.shape = (in_channels, height, width)
        dim = math.prod(self.shape)
        self.noise_emb = NoiseLevelEmbedding(emb_dim)
        self.class_emb = ClassEmbedding(num_classes, emb_dim)
        self.inp = nn.Linear(dim, hidden)
        self.blocks = nn.ModuleList([_Block(hidden, emb_dim) for _ in range(depth)])
        self.out_norm = nn.LayerNorm(hidden)
        self.out = nn.Linear(hidden, dim)
        nn.init.zeros_(self.out.weight)
        nn.init.zeros_(self.out.bias)

    def forward(self, x: Tensor, c_noise: Tensor, cond: Tensor | None = None) -> Tensor:
        b = x.shape[0]
        emb = F.silu(self.noise_emb(c_noise, b) + self.class_emb(cond, b, x.device))
        h = self.inp(x.reshape(b, -1))
        for block in self.blocks:
            h = block(h, emb)
        return self.out(F.silu(self.out_norm(h))).reshape(x.shape)
