"""A compact conditional U-Net for small dense images (``[B, C, H, W]``).

Follows the network contract of docs/CONTRACTS.md: ``net(x_in, c_noise, cond) -> F`` with
``F.shape == x_in.shape``. ``c_noise`` is a scalar or per-sample ``[B, 1, 1, 1]`` tensor
(``log(sigma) / 4``); ``cond`` is ``None`` or a ``LongTensor[B]`` of class labels where
the label ``num_classes`` means "no condition" (classifier-free guidance).
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn
from torch.nn import functional as F

__all__ = ["NoiseLevelEmbedding", "ClassEmbedding", "UNet"]


class NoiseLevelEmbedding(nn.Module):
    """Fourier features of ``c_noise`` (per sample) followed by a two-layer MLP."""

    def __init__(self, dim: int, fourier_dim: int = 64, max_period: float = 1e3) -> None:
        super().__init__()
        half = fourier_dim // 2
        freqs = 16.0 * torch.exp(-math.log(max_period) * torch.arange(half) / max(half - 1, 1))
        self.register_buffer("freqs", freqs, persistent=False)
        self.mlp = nn.Sequential(nn.Linear(2 * half + 1, dim), nn.SiLU(), nn.Linear(dim, dim))

    def forward(self, c_noise: Tensor, batch_size: int) -> Tensor:
        c = c_noise.reshape(-1)
        if c.numel() == 1:
            c = c.expand(batch_size)
        c = c.reshape(batch_size, -1)[:, :1].to(self.freqs.dtype)
        arg = c * self.freqs
        return self.mlp(torch.cat([c, torch.cos(arg), torch.sin(arg)], dim=-1))


class ClassEmbedding(nn.Module):
    """Embedding of a class label, with one extra "null" class (index ``num_classes``)."""

    def __init__(self, num_classes: int, dim: int) -> None:
        super().__init__()
        self.num_classes = int(num_classes)
        self.table = nn.Embedding(self.num_classes + 1, dim) if num_classes > 0 else None
        self.dim = dim

    def forward(self, cond: Tensor | None, batch_size: int, device: torch.device) -> Tensor:
        if self.table is None:
            return torch.zeros(batch_size, self.dim, device=device)
        if cond is None:
            cond = torch.full((batch_size,), self.num_classes, dtype=torch.long, device=device)
        cond = torch.as_tensor(cond, device=device).long().reshape(-1)
        if cond.numel() == 1:
            cond = cond.expand(batch_size)
        return self.table(cond)


class _ResBlock(nn.Module):
    def __init__(self, cin: int, cout: int, emb_dim: int, groups: int = 8) -> None:
        super().__init__()
        self.norm1 = nn.GroupNorm(min(groups, cin), cin)
        self.conv1 = nn.Conv2d(cin, cout, 3, padding=1)
        self.emb = nn.Linear(emb_dim, 2 * cout)
        self.norm2 = nn.GroupNorm(min(groups, cout), cout)
        self.conv2 = nn.Conv2d(cout, cout, 3, padding=1)
        self.skip = nn.Conv2d(cin, cout, 1) if cin != cout else nn.Identity()
        nn.init.zeros_(self.conv2.weight)
        nn.init.zeros_(self.conv2.bias)

    def forward(self, x: Tensor, emb: Tensor) -> Tensor:
        h = self.conv1(F.silu(self.norm1(x)))
        scale, shift = self.emb(emb)[:, :, None, None].chunk(2, dim=1)
        h = self.norm2(h) * (1 + scale) + shift
        h = self.conv2(F.silu(h))
        return self.skip(x) + h


class UNet(nn.Module):
    """Two-or-more-level U-Net with FiLM conditioning on noise level and class.

    Args:
        in_channels: image channels ``C``.
        base_channels: channels of the first level.
        channel_mults: channel multiplier per level; each level after the first halves
            the resolution (H and W must be divisible by ``2**(levels-1)``).
        num_res_blocks: residual blocks per level on the way down (and up).
        num_classes: number of class labels (0: unconditional).
        emb_dim: width of the noise/class embedding.
    """

    def __init__(
        self,
        in_channels: int = 1,
        base_channels: int = 32,
        channel_mults: tuple[int, ...] | list[int] = (1, 2),
        num_res_blocks: int = 1,
        num_classes: int = 0,
        emb_dim: int = 128,
    ) -> None:
        super().__init__()
        self.in_channels = in_channels
        self.noise_emb = NoiseLevelEmbedding(emb_dim)
        self.class_emb = ClassEmbedding(num_classes, emb_dim)
        chans = [base_channels * int(m) for m in channel_mults]
        self.stem = nn.Conv2d(in_channels, chans[0], 3, padding=1)
        self.down = nn.ModuleList()
        self.downsample = nn.ModuleList()
        skips = []
        c = chans[0]
        for level, cl in enumerate(chans):
            blocks = nn.ModuleList()
            for _ in range(num_res_blocks):
                blocks.append(_ResBlock(c, cl, emb_dim))
                c = cl
            self.down.append(blocks)
            skips.append(c)
            last = level == len(chans) - 1
            self.downsample.append(nn.Identity() if last else nn.Conv2d(c, c, 3, stride=2, padding=1))
        self.mid = _ResBlock(c, c, emb_dim)
        self.up = nn.ModuleList()
        self.upsample = nn.ModuleList()
        for level in reversed(range(len(chans))):
            cl = chans[level]
            blocks = nn.ModuleList()
            for i in range(num_res_blocks):
                blocks.append(_ResBlock(c + (skips[level] if i == 0 else 0), cl, emb_dim))
                c = cl
            self.up.append(blocks)
            self.upsample.append(nn.Identity() if level == 0 else nn.Upsample(scale_factor=2))
        self.out_norm = nn.GroupNorm(min(8, c), c)
        self.out = nn.Conv2d(c, in_channels, 3, padding=1)
        nn.init.zeros_(self.out.weight)
        nn.init.zeros_(self.out.bias)

    def forward(self, x: Tensor, c_noise: Tensor, cond: Tensor | None = None) -> Tensor:
        b = x.shape[0]
        emb = self.noise_emb(c_noise, b) + self.class_emb(cond, b, x.device)
        emb = F.silu(emb)
        h = self.stem(x)
        skips = []
        for blocks, down in zip(self.down, self.downsample, strict=True):
            for block in blocks:
                h = block(h, emb)
            skips.append(h)
            h = down(h)
        h = self.mid(h, emb)
        for blocks, up in zip(self.up, self.upsample, strict=True):
            h = torch.cat([h, skips.pop()], dim=1)
            for block in blocks:
                h = block(h, emb)
            h = up(h)
        return self.out(F.silu(self.out_norm(h)))
