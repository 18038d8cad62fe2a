"""Fixed train/valid/test split of QM9 by molecule (shipped as ``data/qm9_split/split.npz``).

The split is made over all 130,831 QM9 indices of the raw table, before any RDKit
processing, so it does not move when RDKit's perception changes; loaders intersect it with
whatever was processed.  Molecules sharing a standard InChI (tautomers of one another in
QM9; standard InChI has mobile H and carries no stereo here) are kept in the same part so
that no molecular graph leaks between train and test.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

SPLIT_NAMES: tuple[str, ...] = ("train", "valid", "test")
# Sizes of the EDM / Cormorant QM9 split (100k / 17,748 / 13,083), as targets; groups
# make the actual counts differ by at most a few molecules.
DEFAULT_SIZES: dict[str, int] = {"valid": 17_748, "test": 13_083}
DEFAULT_SEED = 20240601


def default_split_path() -> Path:
    """``<repo>/data/qm9_split/split.npz``."""
    return Path(__file__).resolve().parents[3] / "data" / "qm9_split" / "split.npz"


def make_split(
    qm9_index: np.ndarray,
    group_key: pd.Series | np.ndarray,
    sizes: dict[str, int] | None = None,
    seed: int = DEFAULT_SEED,
) -> dict[str, np.ndarray]:
    """Group-aware random split.

    Args:
        qm9_index: ``[M]`` QM9 indices.
        group_key: ``[M]`` hashable keys; rows with equal keys end up in the same part.
        sizes: target sizes of ``valid`` and ``test``; ``train`` gets the rest.
        seed: seed of ``numpy.random.default_rng``.

    Returns:
        ``{"train", "valid", "test"}`` -> sorted ``int64`` QM9 indices.
    """
    sizes = dict(DEFAULT_SIZES if sizes is None else sizes)
    codes, uniques = pd.factorize(pd.Series(np.asarray(group_key)), sort=True)
    rng = np.random.default_rng(seed)
    order = rng.permutation(len(uniques))
    counts = np.bincount(codes, minlength=len(uniques))
    cum = np.cumsum(counts[order])
    # Groups are taken in permuted order: test first, then valid, then the rest is train.
    n_test = int(np.searchsorted(cum, sizes["test"]) + 1)
    n_valid = int(np.searchsorted(cum, sizes["test"] + sizes["valid"]) + 1) - n_test
    part_of_group = np.empty(len(uniques), dtype=np.int64)
    part_of_group[order[:n_test]] = 2
    part_of_group[order[n_test:n_test + n_valid]] = 1
    part_of_group[order[n_test + n_valid:]] = 0
    part = part_of_group[codes]
    qm9_index = np.asarray(qm9_index, dtype=np.int64)
    return {name: np.sort(qm9_index[part == k]) for k, name in enumerate(SPLIT_NAMES)}


def save_split(split: dict[str, np.ndarray], path: str | Path, **meta: object) -> None:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    extra = {f"meta_{k}": np.array(v) for k, v in meta.items()}
    np.savez_compressed(path, **{k: v.astype(np.int32) for k, v in split.items()}, **extra)


def load_split(path: str | Path | None = None) -> dict[str, np.ndarray]:
    """``{"train", "valid", "test"}`` -> sorted ``int64`` QM9 indices."""
    path = default_split_path() if path is None else Path(path)
    if not path.exists():
        raise FileNotFoundError(
            f"{path} not found; build it with `python scripts/build_qm9_split.py`"
        )
    with np.load(path, allow_pickle=False) as f:
        return {name: f[name].astype(np.int64) for name in SPLIT_NAMES}


def train_val_data(limit_train: int | None = None, limit_val: int | None = None):
    """QM9 ``(train, valid)`` as ``QM9Data`` for a domain's ``setup``.

    With ``limit_train`` only the first rows of QM9 are read (fast, no full cache needed)
    and every 10th of them is held out for validation, so small runs and tests still get
    a disjoint validation set. Otherwise the fixed split is used, validation cut to
    ``limit_val`` molecules.
    """
    from molediff.domains.chem.qm9 import load_qm9

    if limit_train is not None:
        data = load_qm9(limit=int(limit_train) * 10 // 9 + 1)
        pos = np.arange(len(data))
        return data.subset(pos[pos % 10 != 9]), data.subset(pos[pos % 10 == 9])
    full = load_qm9()
    split = load_split()
    train = full.subset(full.positions_of(split["train"]))
    val = full.subset(full.positions_of(split["valid"]))
    if limit_val is not None:
        val = val.subset(np.arange(min(int(limit_val), len(val))))
    return train, val
