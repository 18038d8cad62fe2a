"""A conditional U-Net for dense ``[B, C, H, W]`` tensors: images and spectrograms.

Follows the network contract of docs/CONTRACTS.md: ``net(x_in, c_noise, cond) -> F`` with
``F.shape == x_in.shape``. ``c_noise`` is a scalar or per-sample ``[B, 1, 1, 1]`` tensor
(``log(sigma) / 4``); ``cond`` is ``None`` or a ``LongTensor[B]`` of class labels where
the label ``num_classes`` means "no condition" (the null class of classifier-free
guidance; ``None`` is the null class for the whole batch).

Residual blocks are FiLM-conditioned on the sum of a noise-level and a class embedding;
optional multi-head self-attention runs at the levels named in ``attention_levels``
(level ``l`` works at ``1 / 2**l`` of the input resolution, so attention is placed at
the coarse levels where it is cheap) and in the middle block. Inputs need not be square
or divisible by ``2**(levels-1)``: they are zero-padded on the bottom/right to the next
multiple and the output is cropped back, so ``[B, 1, 80, 45]`` works like ``[B, 1, 28, 28]``.

Every new option defaults to the original compact network (``conf/model/unet_small.yaml``),
whose parameter names and shapes are unchanged.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn
from torch.nn import functional as F

__all__ = ["NoiseLevelEmbedding", "ClassEmbedding", "SelfAttention2d", "UNet"]


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
    def __init__(self, cin: int, cout: int, emb_dim: int, groups: int = 8,
                 dropout: float = 0.0) -> None:
        super().__init__()
        self.norm1 = nn.GroupNorm(min(groups, cin), cin)
        self.conv1 = nn.Conv2d(cin, cout, 3, padding=1)
        self.emb = nn.Linear(emb_dim, 2 * cout)
        self.norm2 = nn.GroupNorm(min(groups, cout), cout)
        self.dropout = float(dropout)
        self.conv2 = nn.Conv2d(cout, cout, 3, padding=1)
        self.skip = nn.Conv2d(cin, cout, 1) if cin != cout else nn.Identity()
        nn.init.zeros_(self.conv2.weight)
        nn.init.zeros_(self.conv2.bias)

    def forward(self, x: Tensor, emb: Tensor) -> Tensor:
        h = self.conv1(F.silu(self.norm1(x)))
        scale, shift = self.emb(emb)[:, :, None, None].chunk(2, dim=1)
        h = self.norm2(h) * (1 + scale) + shift
        h = F.dropout(F.silu(h), p=self.dropout, training=self.training)
        h = self.conv2(h)
        return self.skip(x) + h


class SelfAttention2d(nn.Module):
    """Multi-head self-attention over the ``H * W`` positions of a feature map, residual,
    with a zero-initialised output projection (the block starts as the identity)."""

    def __init__(self, channels: int, num_heads: int = 4, groups: int = 8) -> None:
        super().__init__()
        if channels % num_heads:
            raise ValueError(f"attention channels {channels} not divisible by num_heads {num_heads}")
        self.num_heads = int(num_heads)
        self.norm = nn.GroupNorm(min(groups, channels), channels)
        self.qkv = nn.Conv2d(channels, 3 * channels, 1)
        self.proj = nn.Conv2d(channels, channels, 1)
        nn.init.zeros_(self.proj.weight)
        nn.init.zeros_(self.proj.bias)

    def forward(self, x: Tensor) -> Tensor:
        b, c, h, w = x.shape
        q, k, v = self.qkv(self.norm(x)).reshape(b, 3, self.num_heads, c // self.num_heads, h * w).unbind(1)
        # [B, heads, HW, d] for scaled_dot_product_attention
        out = F.scaled_dot_product_attention(q.transpose(-1, -2), k.transpose(-1, -2), v.transpose(-1, -2))
        return x + self.proj(out.transpose(-1, -2).reshape(b, c, h, w))


class UNet(nn.Module):
    """U-Net with FiLM conditioning on noise level and class, optional self-attention.

    Args:
        in_channels: channels ``C`` of the input (1 for grey images and log-mel spectrograms).
        base_channels: channels of the first level.
        channel_mults: channel multiplier per level; each level after the first halves
            the resolution.
        num_res_blocks: residual blocks per level on the way down (and up).
        num_classes: number of class labels (0: unconditional); label ``num_classes`` is
            the null class of classifier-free guidance.
        emb_dim: width of the noise/class embedding.
        attention_levels: levels (0 = full resolution) whose residual blocks are followed
            by self-attention, e.g. ``[2]`` for 7×7 maps of a 28×28 input with three levels.
        mid_attention: self-attention between the two residual blocks of the middle.
        num_heads: attention heads (the level's channels must divide by it).
        dropout: dropout probability inside the residual blocks (training only).
    """

    def __init__(
        self,
        in_channels: int = 1,
        base_channels: int = 32,
        channel_mults: tuple[int, ...] | list[int] = (1, 2),
        num_res_blocks: int = 1,
        num_classes: int = 0,
        emb_dim: int = 128,
        attention_levels: tuple[int, ...] | list[int] = (),
        mid_attention: bool = False,
        num_heads: int = 4,
        dropout: float = 0.0,
    ) -> None:
        super().__init__()
        chans = [base_channels * int(m) for m in channel_mults]
        if not chans or num_res_blocks < 1:
            raise ValueError("UNet needs at least one level and one residual block per level")
        attention_levels = {int(a) for a in attention_levels}
        if not attention_levels <= set(range(len(chans))):
            raise ValueError(f"attention_levels {sorted(attention_levels)} outside levels 0..{len(chans) - 1}")
        self.in_channels = in_channels
        self.num_classes = int(num_classes)
        self.multiple = 2 ** (len(chans) - 1)
        self.noise_emb = NoiseLevelEmbedding(emb_dim)
        self.class_emb = ClassEmbedding(num_classes, emb_dim)
        self.stem = nn.Conv2d(in_channels, chans[0], 3, padding=1)
        self.down = nn.ModuleList()
        self.downsample = nn.ModuleList()
        # attention modules live in their own lists (Identity where there is none), so the
        # parameter names of the attention-free network are those of the original U-Net
        self.down_attn = nn.ModuleList()
        skips = []
        c = chans[0]
        for level, cl in enumerate(chans):
            blocks, attn = nn.ModuleList(), nn.ModuleList()
            for _ in range(num_res_blocks):
                blocks.append(_ResBlock(c, cl, emb_dim, dropout=dropout))
                attn.append(SelfAttention2d(cl, num_heads) if level in attention_levels else nn.Identity())
                c = cl
            self.down.append(blocks)
            self.down_attn.append(attn)
            skips.append(c)
            last = level == len(chans) - 1
            self.downsample.append(nn.Identity() if last else nn.Conv2d(c, c, 3, stride=2, padding=1))
        self.mid = _ResBlock(c, c, emb_dim, dropout=dropout)
        self.mid_attn = SelfAttention2d(c, num_heads) if mid_attention else nn.Identity()
        self.mid2 = _ResBlock(c, c, emb_dim, dropout=dropout) if mid_attention else None
        self.up = nn.ModuleList()
        self.upsample = nn.ModuleList()
        self.up_attn = nn.ModuleList()
        for level in reversed(range(len(chans))):
            cl = chans[level]
            blocks, attn = nn.ModuleList(), nn.ModuleList()
            for i in range(num_res_blocks):
                blocks.append(_ResBlock(c + (skips[level] if i == 0 else 0), cl, emb_dim, dropout=dropout))
                attn.append(SelfAttention2d(cl, num_heads) if level in attention_levels else nn.Identity())
                c = cl
            self.up.append(blocks)
            self.up_attn.append(attn)
            self.upsample.append(nn.Identity() if level == 0 else nn.Upsample(scale_factor=2))
        self.out_norm = nn.GroupNorm(min(8, c), c)
        self.out = nn.Conv2d(c, in_channels, 3, padding=1)
        nn.init.zeros_(self.out.weight)
        nn.init.zeros_(self.out.bias)

    def forward(self, x: Tensor, c_noise: Tensor, cond: Tensor | None = None) -> Tensor:
        if x.ndim != 4 or x.shape[1] != self.in_channels:
            raise ValueError(f"UNet expects [B, {self.in_channels}, H, W], got {tuple(x.shape)}")
        b, _, height, width = x.shape
        pad_h, pad_w = (-height) % self.multiple, (-width) % self.multiple
        if pad_h or pad_w:
            x = F.pad(x, (0, pad_w, 0, pad_h))
        emb = self.noise_emb(c_noise, b) + self.class_emb(cond, b, x.device)
        emb = F.silu(emb)
        h = self.stem(x)
        skips = []
        for blocks, attns, down in zip(self.down, self.down_attn, self.downsample, strict=True):
            for block, attn in zip(blocks, attns, strict=True):
                h = attn(block(h, emb))
            skips.append(h)
            h = down(h)
        h = self.mid(h, emb)
        if self.mid2 is not None:
            h = self.mid2(self.mid_attn(h), emb)
        for blocks, attns, up in zip(self.up, self.up_attn, self.upsample, strict=True):
            h = torch.cat([h, skips.pop()], dim=1)
            for block, attn in zip(blocks, attns, strict=True):
                h = attn(block(h, emb))
            h = up(h)
        out = self.out(F.silu(self.out_norm(h)))
        return out[:, :, :height, :width]
