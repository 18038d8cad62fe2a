"""Held-out denoising error: the validation loss of training and of ``molediff evaluate``."""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor

from molediff.core.denoisers import Denoiser
from molediff.domains.base import Domain

DEFAULT_VAL_SIGMAS = (0.02, 0.1, 0.3, 1.0, 3.0)


def step_seed(seed: int, step: int, micro: int = 0, rank: int = 0) -> int:
    """A 63-bit seed that is a pure function of its arguments."""
    return hash((int(seed), int(step), int(micro), int(rank), 0x5EED)) & 0x7FFF_FFFF_FFFF_FFFF


@torch.no_grad()
def x0_mse(
    denoiser: Denoiser,
    domain: Domain,
    batch: Any,
    sigmas: tuple[float, ...] = DEFAULT_VAL_SIGMAS,
    generator: torch.Generator | None = None,
) -> Tensor:
    """Mean over ``sigmas`` of the per-dof squared error of the clean-sample estimate,
    divided by ``sigma_data²`` (1 = as bad as predicting the mean): a loss that compares
    across parameterizations and weightings."""
    x0, cond, space = domain.batch_to(batch)
    out = []
    for s in sigmas:
        sig = torch.full((space.num_samples,), float(s), dtype=x0.dtype, device=x0.device)
        per = denoiser.loss(x0, cond, space, generator=generator, sigma=sig, reduce=False)
        out.append((per / denoiser.loss_weight(sig)).mean())
    return torch.stack(out).mean() / denoiser.sigma_data**2


def to_device(batch: Any, device: torch.device | str) -> Any:
    """A collated batch on ``device`` (tensors, PyG batches, and containers of them)."""
    if hasattr(batch, "to") and callable(batch.to):
        return batch.to(device)
    if isinstance(batch, dict):
        return {k: to_device(v, device) for k, v in batch.items()}
    if isinstance(batch, list | tuple):
        return type(batch)(to_device(v, device) for v in batch)
    return batch


@torch.no_grad()
def val_x0_mse(
    denoiser: Denoiser,
    domain: Domain,
    batch_size: int = 256,
    sigmas: tuple[float, ...] = DEFAULT_VAL_SIGMAS,
    seed: int = 0,
    device: torch.device | str = "cpu",
) -> float:
    """:func:`x0_mse` over the whole validation set (NaN if there is none)."""
    dataset = domain.val_dataset()
    if dataset is None or len(dataset) == 0:
        return float("nan")
    was_training = denoiser.training
    denoiser.eval()
    total, count = 0.0, 0
    try:
        for i in range(0, len(dataset), batch_size):
            items = [dataset[j] for j in range(i, min(i + batch_size, len(dataset)))]
            batch = to_device(domain.collate(items), device)
            gen = torch.Generator(device=device).manual_seed(step_seed(seed, -2, i))
            total += float(x0_mse(denoiser, domain, batch, sigmas, gen)) * len(items)
            count += len(items)
    finally:
        denoiser.train(was_training)
    return total / count
