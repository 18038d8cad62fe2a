"""Conformer data: molecular graph (condition) + 3D coordinates in Å (the diffusion variable).

Sources: QM9 (DFT geometries, :class:`QM9ConformerDataset`) and drug-like PDB ligands
(CCD ideal geometries, :class:`CCDConformerDataset`); :class:`MoleculeMix` concatenates
them (each source repeated a chosen number of times) and keeps ``mol(k)``.

One item is a torch_geometric ``Data`` from :func:`molediff.domains.chem.featurize.mol_to_data`
with ``pos`` centred on the unweighted mean of all atoms (what ``GraphSpace.project``
does), plus ``source`` (``"qm9/<index>"`` or ``"ccd/<component ID>"``).  :func:`batch_to_diffusion` turns a PyG ``Batch`` into the
``(x0, cond, space)`` triple of the diffusion core.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np
import torch
from rdkit import Chem
from torch.utils.data import Dataset
from torch_geometric.data import Batch, Data

from molediff.domains.chem.featurize import (
    DEFAULT_MAX_HEAVY_ATOMS,
    mol_to_data,
    smiles_to_data,
)
from molediff.domains.chem.qm9 import QM9Data, load_qm9
from molediff.domains.chem.split import SPLIT_NAMES, load_split

if TYPE_CHECKING:
    from molediff.core.space import GraphSpace


class QM9ConformerDataset(Dataset):
    """QM9 molecules with their DFT geometry, featurised on access.

    Args:
        split: ``"train"``, ``"valid"``, ``"test"`` (the fixed split of
            ``data/qm9_split/split.npz``) or ``None`` for all molecules.
        limit: keep only the first ``limit`` molecules of the selection (QM9 order).
            With ``split=None`` and no processed cache on disk this touches only those
            rows, which keeps tests fast.
        precompute: featurise everything up front (about 1 ms per molecule) instead of
            on every access.
        data: an already loaded :class:`QM9Data` to draw from (skips loading).
    """

    def __init__(
        self,
        split: str | None = "train",
        limit: int | None = None,
        precompute: bool = False,
        data: QM9Data | None = None,
    ):
        if split is not None and split not in SPLIT_NAMES:
            raise ValueError(f"split must be one of {SPLIT_NAMES} or None, got {split!r}")
        if data is None:
            indices = load_split()[split] if split is not None else None
            data = load_qm9(limit=limit, indices=indices)
        else:
            if split is not None:
                data = data.subset(data.positions_of(load_split()[split]))
            if limit is not None and limit < len(data):
                data = data.subset(np.arange(limit))
        self.qm9 = data
        self.split = split
        self._items: list[Data] | None = None
        if precompute:
            self._items = [self._make(k) for k in range(len(data))]

    def __len__(self) -> int:
        return len(self.qm9)

    def mol(self, k: int) -> Chem.Mol:
        """RDKit molecule of item ``k`` (explicit H, DFT conformer in Å, same atom order)."""
        return self.qm9.mol(k)

    def _make(self, k: int) -> Data:
        data = mol_to_data(self.mol(k))
        data.pos = data.pos - data.pos.mean(dim=0, keepdim=True)
        data.source = f"qm9/{int(self.qm9.index[k])}"
        return data

    def __getitem__(self, k: int) -> Data:
        if self._items is not None:
            return self._items[k]
        return self._make(int(k))


class CCDConformerDataset(Dataset):
    """Drug-like PDB ligands (8–50 heavy atoms, H C N O F P S Cl Br I) of one part of the
    fixed CCD scaffold split, with their CCD ideal geometry, featurised on access.

    Args:
        split: ``"train"``, ``"valid"`` or ``"test"`` (``data/ccd_split/split.npz``).
        limit: only the first ``limit`` components (sorted IDs); converted directly,
            without building the on-disk cache.
    """

    def __init__(self, split: str = "train", limit: int | None = None) -> None:
        from molediff.domains.chem.ccd import CCDLigands

        self.ligands = CCDLigands(split=split, limit=limit)
        self.split = split

    def __len__(self) -> int:
        return len(self.ligands)

    def mol(self, k: int) -> Chem.Mol:
        """RDKit molecule of item ``k`` (explicit H, CCD ideal conformer in Å)."""
        return self.ligands.mol(k)

    def __getitem__(self, k: int) -> Data:
        data = mol_to_data(self.mol(int(k)))
        data.pos = data.pos - data.pos.mean(dim=0, keepdim=True)
        data.source = f"ccd/{self.ligands.ids[int(k)]}"
        return data


class MoleculeMix(Dataset):
    """Several molecule datasets end to end, dataset ``i`` repeated ``repeats[i]`` times
    (a smaller source weighted up without copying it); ``mol(k)`` follows ``__getitem__``."""

    def __init__(self, parts: Sequence[Dataset], repeats: Sequence[int] | None = None) -> None:
        repeats = [1] * len(parts) if repeats is None else [int(r) for r in repeats]
        if len(repeats) != len(parts) or any(r < 0 for r in repeats):
            raise ValueError(f"need one repeat count >= 0 per dataset, got {repeats}")
        self.parts = [p for p, r in zip(parts, repeats, strict=True) if r > 0 and len(p)]
        self.repeats = [r for p, r in zip(parts, repeats, strict=True) if r > 0 and len(p)]
        sizes = [len(p) * r for p, r in zip(self.parts, self.repeats, strict=True)]
        self._ends = np.cumsum(sizes).tolist()

    def __len__(self) -> int:
        return int(self._ends[-1]) if self._ends else 0

    def _locate(self, k: int) -> tuple[Dataset, int]:
        k = int(k)
        if not 0 <= k < len(self):
            raise IndexError(k)
        i = int(np.searchsorted(self._ends, k, side="right"))
        start = self._ends[i - 1] if i else 0
        part = self.parts[i]
        return part, (k - start) % len(part)

    def mol(self, k: int) -> Chem.Mol:
        part, j = self._locate(k)
        return part.mol(j)  # type: ignore[attr-defined]

    def __getitem__(self, k: int) -> Data:
        part, j = self._locate(k)
        return part[j]


def collate(items: Sequence[Data]) -> Batch:
    """PyG batching (use as ``DataLoader(..., collate_fn=collate)``)."""
    return Batch.from_data_list(list(items))


def batch_to_diffusion(batch: Batch) -> tuple[torch.Tensor, Batch, GraphSpace]:
    """``(x0 = batch.pos [N,3] Å, cond = batch, GraphSpace)`` for the diffusion core."""
    from molediff.core.space import GraphSpace

    if batch.pos is None:
        raise ValueError("batch has no positions; use smiles_to_batch for inference")
    space = GraphSpace(batch.batch, int(batch.num_graphs))
    return batch.pos, batch, space


def smiles_to_batch(
    smiles: Sequence[str], num_samples: int = 1, max_heavy_atoms: int = DEFAULT_MAX_HEAVY_ATOMS
) -> Batch:
    """Inference condition: every SMILES repeated ``num_samples`` times, ``pos`` absent.

    Raises:
        ValueError: from :func:`molediff.domains.chem.featurize.smiles_to_data`, naming
            the SMILES that failed.
    """
    items = []
    for smi in smiles:
        data = smiles_to_data(smi, max_heavy_atoms=max_heavy_atoms)
        items += [data.clone() for _ in range(num_samples)]
    return Batch.from_data_list(items)
