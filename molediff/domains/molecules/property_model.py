"""A property regressor for QM9 geometries, used to score property-conditioned generation.

Model: an E(3)-invariant descriptor followed by an MLP.

- descriptor (``5 + 15·K`` numbers per molecule): element counts (H C N O F), and for each
  of the 15 unordered element pairs the sum over atom pairs of ``K`` Gaussian radial basis
  functions of their distance (centres ``0.6 .. 6.0`` Å, width ``0.4`` Å, ``K = 20``) -- a
  "bag of distances" per element pair, invariant to rotation, translation, reflection and
  atom order;
- MLP: standardised descriptor -> 2 hidden layers -> standardised properties, MSE loss,
  AdamW. Trained on the fixed QM9 train split, evaluated on the valid split.

This is deliberately cheaper than EDM's EGNN property classifiers (trained for days); its
own held-out MAE is reported next to every generated-molecule MAE so that the error of
the scorer is visible (an MAE of generated molecules below the regressor's own MAE means
nothing).

Usage::

    reg, info = train_regressor(["alpha"], epochs=20)   # info["val_mae"] in dataset units
    reg.save(path); reg = PropertyRegressor.load(path)
    pred = reg.predict([(z, pos_angstrom), ...])          # [M, P] in dataset units
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

from molediff.domains.molecules.domain import ATOMIC_NUMBERS

NUM_ELEMENTS = len(ATOMIC_NUMBERS)
_PAIRS = [(a, b) for a in range(NUM_ELEMENTS) for b in range(a, NUM_ELEMENTS)]
NUM_PAIRS = len(_PAIRS)
_PAIR_INDEX = torch.full((NUM_ELEMENTS, NUM_ELEMENTS), -1, dtype=torch.long)
for _k, (_a, _b) in enumerate(_PAIRS):
    _PAIR_INDEX[_a, _b] = _PAIR_INDEX[_b, _a] = _k
_Z_TO_INDEX = np.full(119, -1, dtype=np.int64)
for _i, _z in enumerate(ATOMIC_NUMBERS):
    _Z_TO_INDEX[_z] = _i


def featurize(
    molecules: Sequence[tuple[Any, Any]],
    num_rbf: int = 20,
    r_min: float = 0.6,
    r_max: float = 6.0,
    width: float = 0.4,
    chunk: int = 512,
) -> Tensor:
    """Invariant descriptors ``[M, 5 + 15·num_rbf]`` of ``(atomic_numbers, positions_Å)``.

    Raises:
        ValueError: an element outside H C N O F.
    """
    centres = torch.linspace(r_min, r_max, num_rbf)
    out = []
    for start in range(0, len(molecules), chunk):
        part = molecules[start : start + chunk]
        n_max = max(max(len(np.asarray(z)) for z, _ in part), 1)
        b = len(part)
        types = torch.full((b, n_max), -1, dtype=torch.long)
        pos = torch.zeros(b, n_max, 3)
        for i, (z, p) in enumerate(part):
            z = np.asarray(z, dtype=np.int64).reshape(-1)
            if len(z) == 0:
                continue
            if z.min() < 0 or z.max() > 118 or (_Z_TO_INDEX[z] < 0).any():
                raise ValueError(f"unsupported elements {sorted(set(z.tolist()))}; only H C N O F")
            types[i, : len(z)] = torch.as_tensor(_Z_TO_INDEX[z])
            pos[i, : len(z)] = torch.as_tensor(np.asarray(p, dtype=np.float32).reshape(-1, 3))
        valid = types >= 0
        counts = torch.nn.functional.one_hot(types.clamp_min(0), NUM_ELEMENTS).float()
        counts = (counts * valid[..., None]).sum(1)
        d = torch.cdist(pos, pos)  # [b, n, n]
        pair = _PAIR_INDEX[types.clamp_min(0)[:, :, None], types.clamp_min(0)[:, None, :]]
        mask = valid[:, :, None] & valid[:, None, :] & ~torch.eye(n_max, dtype=torch.bool)
        rbf = torch.exp(-(((d[..., None] - centres) / width) ** 2)) * mask[..., None]  # [b,n,n,K]
        onehot = torch.nn.functional.one_hot(pair, NUM_PAIRS).float()  # [b,n,n,P]
        bag = torch.einsum("bijp,bijk->bpk", onehot, rbf) / 2  # each unordered pair once
        out.append(torch.cat([counts, bag.reshape(b, -1)], dim=1))
    if not out:
        return torch.zeros(0, NUM_ELEMENTS + NUM_PAIRS * num_rbf)
    return torch.cat(out)


class PropertyRegressor(nn.Module):
    """Descriptor -> MLP -> QM9 properties (dataset units).

    Args:
        properties: QM9 property names predicted (e.g. ``["alpha"]``).
        in_features: descriptor width.
        hidden: MLP width.
    """

    def __init__(self, properties: Sequence[str], in_features: int = NUM_ELEMENTS + NUM_PAIRS * 20,
                 hidden: int = 256) -> None:
        super().__init__()
        self.properties = tuple(properties)
        self.mlp = nn.Sequential(
            nn.Linear(in_features, hidden), nn.SiLU(), nn.Linear(hidden, hidden), nn.SiLU(),
            nn.Linear(hidden, len(self.properties)),
        )
        self.register_buffer("x_mean", torch.zeros(in_features))
        self.register_buffer("x_std", torch.ones(in_features))
        self.register_buffer("y_mean", torch.zeros(len(self.properties)))
        self.register_buffer("y_std", torch.ones(len(self.properties)))

    def forward(self, feats: Tensor) -> Tensor:
        """Descriptors -> properties in dataset units."""
        z = self.mlp((feats - self.x_mean) / self.x_std)
        return z * self.y_std + self.y_mean

    @torch.no_grad()
    def predict(self, molecules: Sequence[tuple[Any, Any]], batch_size: int = 1024) -> np.ndarray:
        """``[M, P]`` predicted properties of ``(atomic_numbers, positions_Å)`` molecules."""
        self.eval()
        feats = featurize(list(molecules))
        out = [self(feats[i : i + batch_size]) for i in range(0, len(feats), batch_size)]
        return torch.cat(out).numpy() if out else np.zeros((0, len(self.properties)))

    def save(self, path: str | Path, info: dict[str, Any] | None = None) -> Path:
        from molediff.utils.torchfile import save_file

        return save_file({"properties": list(self.properties), "state_dict": self.state_dict(),
                          "hidden": self.mlp[0].out_features, "info": dict(info or {})}, path)

    @classmethod
    def load(cls, path: str | Path) -> tuple[PropertyRegressor, dict[str, Any]]:
        """The regressor and the info saved with it (``val_mae``, ...)."""
        from molediff.utils.torchfile import load_file

        obj = load_file(path)
        state = obj["state_dict"]
        reg = cls(obj["properties"], in_features=state["x_mean"].shape[0], hidden=int(obj["hidden"]))
        reg.load_state_dict(state)
        return reg, dict(obj.get("info", {}))


def _molecules(data: Any) -> list[tuple[np.ndarray, np.ndarray]]:
    ptr = data.atom_ptr
    return [(data.z[ptr[k] : ptr[k + 1]], data.pos[ptr[k] : ptr[k + 1]]) for k in range(len(data))]


def train_regressor(
    properties: Iterable[str],
    *,
    train: Any = None,
    val: Any = None,
    epochs: int = 20,
    batch_size: int = 256,
    lr: float = 2e-3,
    hidden: int = 256,
    seed: int = 0,
    log: Any = None,
) -> tuple[PropertyRegressor, dict[str, Any]]:
    """Fit a :class:`PropertyRegressor` on QM9 (default: the fixed train split; validation
    on the first 5,000 molecules of the valid split).

    Returns:
        The regressor (eval mode) and ``info``: ``val_mae`` / ``train_mae`` per property
        (dataset units), ``val_mae_mean_predictor`` (MAE of always predicting the training
        mean), sizes, epochs and wall time in seconds.
    """
    from molediff.domains.chem.qm9 import PROPERTY_NAMES, load_qm9

    props = list(properties)
    cols = [PROPERTY_NAMES.index(p) for p in props]
    if train is None or val is None:
        from molediff.domains.chem.split import load_split

        full = load_qm9()
        split = load_split()
        train = full.subset(full.positions_of(split["train"])) if train is None else train
        if val is None:
            val = full.subset(full.positions_of(split["valid"]))
            val = val.subset(np.arange(min(5000, len(val))))
    t0 = time.perf_counter()
    xtr, xva = featurize(_molecules(train)), featurize(_molecules(val))
    ytr = torch.as_tensor(train.props[:, cols], dtype=torch.float32)
    yva = torch.as_tensor(val.props[:, cols], dtype=torch.float32)
    reg = PropertyRegressor(props, xtr.shape[1], hidden)
    reg.x_mean.copy_(xtr.mean(0))
    reg.x_std.copy_(xtr.std(0).clamp_min(1e-3))
    reg.y_mean.copy_(ytr.mean(0))
    reg.y_std.copy_(ytr.std(0).clamp_min(1e-8))
    g = torch.Generator().manual_seed(seed)
    opt = torch.optim.AdamW(reg.parameters(), lr=lr, weight_decay=1e-5)
    steps = epochs * max(1, (len(xtr) + batch_size - 1) // batch_size)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=lr, total_steps=steps)
    reg.train()
    for epoch in range(epochs):
        perm = torch.randperm(len(xtr), generator=g)
        for i in range(0, len(xtr), batch_size):
            idx = perm[i : i + batch_size]
            pred = reg.mlp((xtr[idx] - reg.x_mean) / reg.x_std)
            loss = ((pred - (ytr[idx] - reg.y_mean) / reg.y_std) ** 2).mean()
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()
        if log is not None:
            log(f"epoch {epoch}: loss {float(loss):.4f}")
    reg.eval()
    with torch.no_grad():
        mae_va = (reg(xva) - yva).abs().mean(0)
        mae_tr = (reg(xtr[:5000]) - ytr[:5000]).abs().mean(0)
        mae_mean = (yva - ytr.mean(0)).abs().mean(0)
    info = {
        "properties": props,
        "val_mae": {p: float(mae_va[i]) for i, p in enumerate(props)},
        "train_mae": {p: float(mae_tr[i]) for i, p in enumerate(props)},
        "val_mae_mean_predictor": {p: float(mae_mean[i]) for i, p in enumerate(props)},
        "num_train": len(xtr),
        "num_val": len(xva),
        "epochs": epochs,
        "seconds": time.perf_counter() - t0,
    }
    return reg, info


def default_regressor_path(properties: Sequence[str]) -> Path:
    """Cache location of the regressor for ``properties`` (``$MOLEDIFF_CACHE``)."""
    from molediff.domains.chem.qm9 import cache_dir

    return cache_dir() / f"qm9_property_regressor_{'_'.join(properties)}.pt"


def get_regressor(properties: Sequence[str], epochs: int = 20) -> tuple[PropertyRegressor, dict[str, Any]]:
    """Load the cached regressor for ``properties`` or train (and cache) one."""
    path = default_regressor_path(properties)
    if path.exists():
        return PropertyRegressor.load(path)
    reg, info = train_regressor(properties, epochs=epochs)
    reg.save(path, info)
    return reg, info


__all__ = ["PropertyRegressor", "featurize", "train_regressor", "get_regressor",
           "default_regressor_path"]
