"""Data glue between a :class:`~molediff.domains.base.Domain` and Lightning.

Batches are drawn by :class:`StepBatchSampler`, whose order is a pure function of
``(seed, batch number)``: epoch ``e`` is the permutation ``randperm(N, seed + e)``, each
DDP rank takes its own slice of every global batch, and a resumed run starts at batch
``global_step × accumulate_grad_batches``. That makes resuming from a mid-epoch
checkpoint replay exactly the batches the uninterrupted run would have seen, without
relying on Lightning's dataloader state.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import lightning as L
import torch
from torch.utils.data import DataLoader, Sampler

from molediff.domains.base import Domain


class StepBatchSampler(Sampler[list[int]]):
    """Deterministic, resumable, rank-aware batch sampler.

    Args:
        num_items: dataset size ``N``.
        batch_size: per-rank batch size.
        seed: base seed of the epoch permutations.
        shuffle: permute each epoch (else sequential order).
        rank, world_size: this process's slice of each global batch.
        drop_last: drop the incomplete last global batch of an epoch.
    """

    def __init__(
        self,
        num_items: int,
        batch_size: int,
        seed: int = 0,
        shuffle: bool = True,
        rank: int = 0,
        world_size: int = 1,
        drop_last: bool = True,
    ) -> None:
        if num_items < batch_size * world_size and drop_last:
            raise ValueError(
                f"dataset of {num_items} items is smaller than one global batch "
                f"({batch_size} x {world_size} ranks)"
            )
        self.num_items, self.batch_size = num_items, batch_size
        self.seed, self.shuffle = seed, shuffle
        self.rank, self.world_size = rank, world_size
        self.drop_last = drop_last
        gb = batch_size * world_size
        self.batches_per_epoch = num_items // gb if drop_last else -(-num_items // gb)
        self.position = 0  # global batch counter: the next batch to yield

    def set_position(self, batch_number: int) -> None:
        """Continue from global batch ``batch_number`` (e.g. after resuming)."""
        self.position = int(batch_number)

    def _order(self, epoch: int) -> torch.Tensor:
        if not self.shuffle:
            return torch.arange(self.num_items)
        g = torch.Generator().manual_seed(self.seed * 1_000_003 + epoch)
        return torch.randperm(self.num_items, generator=g)

    def __iter__(self) -> Iterator[list[int]]:
        epoch, offset = divmod(self.position, self.batches_per_epoch)
        order = self._order(epoch)
        gb = self.batch_size * self.world_size
        for b in range(offset, self.batches_per_epoch):
            chunk = order[b * gb : (b + 1) * gb]
            mine = chunk[self.rank * self.batch_size : (self.rank + 1) * self.batch_size]
            self.position += 1
            yield mine.tolist()

    def __len__(self) -> int:
        return self.batches_per_epoch


class DomainDataModule(L.LightningDataModule):
    """Train/val dataloaders of a domain.

    Args:
        domain: the modality.
        batch_size: per-rank batch size.
        num_workers: dataloader workers (0: in the main process).
        seed: seed of the batch order.
        val_batch_size: batch size of validation (default: ``batch_size``).
        limit_val_items: use only the first ``limit_val_items`` validation items.
    """

    def __init__(
        self,
        domain: Domain,
        batch_size: int = 64,
        num_workers: int = 0,
        seed: int = 0,
        val_batch_size: int | None = None,
        limit_val_items: int | None = None,
    ) -> None:
        super().__init__()
        self.domain = domain
        self.batch_size, self.num_workers, self.seed = batch_size, num_workers, seed
        self.val_batch_size = val_batch_size or batch_size
        self.limit_val_items = limit_val_items
        self.train_sampler: StepBatchSampler | None = None

    def setup(self, stage: str | None = None) -> None:
        self.domain.setup()

    def _loader(self, dataset: Any, **kwargs: Any) -> DataLoader:
        return DataLoader(
            dataset,
            collate_fn=self.domain.collate,
            num_workers=self.num_workers,
            persistent_workers=self.num_workers > 0,
            # a private generator: creating iterators never consumes the global RNG
            generator=torch.Generator().manual_seed(self.seed),
            **kwargs,
        )

    def train_dataloader(self) -> DataLoader:
        trainer = self.trainer
        rank = trainer.global_rank if trainer is not None else 0
        world = trainer.world_size if trainer is not None else 1
        dataset = self.domain.train_dataset()
        self.train_sampler = StepBatchSampler(
            len(dataset), self.batch_size, seed=self.seed, rank=rank, world_size=world
        )
        if trainer is not None:
            self.train_sampler.set_position(trainer.global_step * trainer.accumulate_grad_batches)
        return self._loader(dataset, batch_sampler=self.train_sampler)

    def val_dataloader(self) -> DataLoader | list:
        dataset = self.domain.val_dataset()
        if dataset is None:
            return []
        if self.limit_val_items is not None:
            dataset = torch.utils.data.Subset(dataset, range(min(len(dataset), self.limit_val_items)))
        trainer = self.trainer
        sampler = None
        if trainer is not None and trainer.world_size > 1:
            sampler = torch.utils.data.DistributedSampler(
                dataset, num_replicas=trainer.world_size, rank=trainer.global_rank, shuffle=False
            )
        return self._loader(dataset, batch_size=self.val_batch_size, shuffle=False, sampler=sampler)
