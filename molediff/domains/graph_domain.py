"""Shared plumbing of domains whose items are torch_geometric graphs."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from torch.utils.data import Dataset
from torch_geometric.data import Batch

from molediff.domains.base import Domain


class GraphDomain(Domain):
    """A :class:`Domain` over PyG ``Data`` items: :meth:`setup` fills ``self._train`` and
    ``self._val`` once; batches are ``Batch.from_data_list``."""

    _train: Dataset | None = None
    _val: Dataset | None = None

    def train_dataset(self) -> Dataset:
        self.setup()
        if self._train is None:
            raise RuntimeError(f"{type(self).__name__}.setup() did not load a training set")
        return self._train

    def val_dataset(self) -> Dataset | None:
        self.setup()
        return self._val

    def collate(self, items: Sequence[Any]) -> Batch:
        return Batch.from_data_list(list(items))
