"""The shipped protein chains (``data/proteins/chains.npz``) and their PyG dataset.

The file is written by ``scripts/build_protein_data.py`` from ProMod3's structure database
(see data/README.md): backbones N, CA, C, O as ``int16`` centi-Å, a per-chain pointer, the
sequence, the PDB id + chain and a similarity split (0 train, 1 valid, 2 test).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import Dataset
from torch_geometric.data import Data

from molediff.domains.proteins.features import node_features, window_edges
from molediff.utils.errors import InputError

PARTS = {"train": 0, "valid": 1, "test": 2}


def default_data_path() -> Path:
    """``$MOLEDIFF_PROTEIN_DATA`` or the repository's ``data/proteins/chains.npz``."""
    env = os.environ.get("MOLEDIFF_PROTEIN_DATA")
    if env:
        return Path(env)
    return Path(__file__).resolve().parents[3] / "data" / "proteins" / "chains.npz"


@dataclass
class ProteinChains:
    """Backbones of one split: ``coords[i]`` is ``float32 [L_i, 4, 3]`` (Å, CA-centred)."""

    coords: list[np.ndarray]
    sequence: list[str]
    name: list[str]

    def __len__(self) -> int:
        return len(self.coords)

    @property
    def lengths(self) -> np.ndarray:
        return np.array([len(c) for c in self.coords])


@lru_cache(maxsize=4)
def _load(path: str) -> dict[str, np.ndarray]:
    p = Path(path)
    if not p.is_file():
        raise InputError(f"protein data file {p} not found (build it with "
                         "scripts/build_protein_data.py, see data/README.md)")
    with np.load(p, allow_pickle=False) as z:
        return {k: z[k] for k in z.files}


def load_chains(part: str, path: str | Path | None = None, limit: int | None = None,
                max_length: int | None = None) -> ProteinChains:
    """Chains of one part (``train`` / ``valid`` / ``test``), in file order, optionally the
    first ``limit`` of at most ``max_length`` residues."""
    z = _load(str(path or default_data_path()))
    ptr = z["ptr"]
    idx = np.flatnonzero(z["part"] == PARTS[part])
    if max_length is not None:
        idx = idx[(ptr[idx + 1] - ptr[idx]) <= max_length]
    if limit is not None:
        idx = idx[: int(limit)]
    coords = [z["coords"][ptr[i] : ptr[i + 1]].astype(np.float32) / 100.0 for i in idx]
    return ProteinChains(coords, [str(z["sequence"][i]) for i in idx],
                         [str(z["name"][i]) for i in idx])


def backbone_to_data(coords: np.ndarray | torch.Tensor, chain: torch.Tensor | None = None,
                     motif: torch.Tensor | None = None) -> Data:
    """One backbone ``[L, 4, 3]`` (Å) -> ``Data(pos [L, 12], h, edge_index, edge_attr,
    chain, residue_index)``; ``pos`` is ``None`` for a template without coordinates."""
    n = len(coords) if coords is not None else int(chain.numel())
    chain = torch.zeros(n, dtype=torch.long) if chain is None else chain.long()
    h, index = node_features(chain, motif)
    ei, ea = window_edges(chain)
    pos = None
    if coords is not None:
        pos = torch.as_tensor(np.asarray(coords), dtype=torch.float32).reshape(n, 12)
    return Data(pos=pos, h=h, edge_index=ei, edge_attr=ea, chain=chain, residue_index=index,
                num_nodes=n)


class ChainDataset(Dataset):
    """PyG graphs of a :class:`ProteinChains`, featurised once and kept."""

    def __init__(self, chains: ProteinChains) -> None:
        self.chains = chains
        self._cache: dict[int, Data] = {}

    def __len__(self) -> int:
        return len(self.chains)

    def __getitem__(self, k: int) -> Data:
        k = int(k)
        item = self._cache.get(k)
        if item is None:
            item = backbone_to_data(self.chains.coords[k])
            self._cache[k] = item
        return item


__all__ = ["ProteinChains", "load_chains", "backbone_to_data", "ChainDataset",
           "default_data_path", "PARTS"]
