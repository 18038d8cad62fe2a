"""De novo 3D molecule generation on QM9 (EDM-style), with property conditioning and
fragment inpainting.

Representation (one node per atom, hydrogens explicit, fully connected graphs)::

    x = [ coords (3, Å) | one-hot(H C N O F) * type_scale | formal charge * charge_scale ]

diffused jointly on a :class:`~molediff.core.space.GraphSpace` (the centre of mass is
removed from the coordinate columns only). ``type_scale = 0.25`` and
``charge_scale = 0.1`` follow EDM (Hoogeboom et al. 2022): the discrete features are
scaled down so that the coordinates dominate the early denoising. Decoding takes the
argmax of the type block, rounds the charge and returns positions in Å.

Conditioning (``properties`` non-empty): the graph condition ``cond.y [B, P + 1]`` holds
the QM9 properties normalised with the training mean / std, followed by a "present" flag
(1). The null condition of classifier-free guidance is all zeros (flag 0), which no real
condition equals; training replaces each molecule's condition by the null one with
probability ``cond_dropout``.

Sampling requests (``template(condition=...)``):

- ``None``: sizes from the training histogram, null (unconditional) property condition;
- an ``int``: that many atoms per molecule;
- a mapping with any of
  ``num_atoms`` (int or list, cycled),
  ``properties`` (``{"alpha": 80.0}`` or a list of such dicts, cycled, dataset units, see
  :data:`~molediff.domains.chem.qm9.PROPERTY_UNITS`; or ``"sample"`` to draw
  (property, size) pairs of random training molecules, EDM's evaluation protocol),
  ``fragment`` (SMILES or path to an SDF/MOL file; see
  :mod:`molediff.domains.molecules.fragment`), ``fragment_add_hs`` (bool).

Property values must lie within ``[min - m·(max - min), max + m·(max - min)]`` of the
training set (``m = property_margin``, default 0.1); anything else is a ``ValueError``.
"""

from __future__ import annotations

import copy
import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor
from torch.utils.data import Dataset
from torch_geometric.data import Batch, Data

from molediff.core.space import GraphSpace
from molediff.domains.base import Draw
from molediff.domains.graph_domain import GraphDomain
from molediff.utils.errors import UsageError

#: element symbols and atomic numbers of the type one-hot (QM9's elements)
ELEMENTS: tuple[str, ...] = ("H", "C", "N", "O", "F")
ATOMIC_NUMBERS: tuple[int, ...] = (1, 6, 7, 8, 9)
Z_TO_INDEX: dict[int, int] = {z: i for i, z in enumerate(ATOMIC_NUMBERS)}
#: per-axis std of centred QM9 coordinates (Å); the RMS over all columns of x is ~0.8
QM9_COORD_STD = 1.40
CONDITION_KEYS = ("num_atoms", "properties", "fragment", "fragment_add_hs")


@dataclass
class GeneratedMolecule:
    """One decoded sample.

    Attributes:
        atomic_numbers: ``int64 [n]``.
        positions: ``float64 [n, 3]`` in Å.
        charges: ``int64 [n]`` formal charges.
        target: requested property values (dataset units), empty if unconditional.
        fixed: ``bool [n]`` atoms that came from a fragment (inpainting).
    """

    atomic_numbers: np.ndarray
    positions: np.ndarray
    charges: np.ndarray
    target: dict[str, float] = field(default_factory=dict)
    fixed: np.ndarray | None = None

    def pair(self) -> tuple[np.ndarray, np.ndarray]:
        """``(atomic_numbers, positions_Å)`` as :func:`evaluate_molecules` takes it."""
        return self.atomic_numbers, self.positions


class PinnedGraphSpace(GraphSpace):
    """A :class:`GraphSpace` whose fixed nodes are pinned to known values.

    The set ``{x : x[fixed] = known}`` (with the centre on the fixed nodes) is the space of
    an inpainting problem, and :meth:`project` maps onto it: it applies replacement
    inpainting (``molediff.core.guidance.inpaint``) to every estimate the sampler projects,
    so the generic ``generate`` path keeps fragments exact without a special guidance.
    ``known`` rows of fixed nodes must be centred (their mean coordinate is 0).
    """

    def __init__(self, batch: Tensor, num_graphs: int, fixed_mask: Tensor, known: Tensor,
                 coord_dims: int = 3, sample_seeds: Any = None) -> None:
        super().__init__(batch, num_graphs, coord_dims=coord_dims, fixed_mask=fixed_mask,
                         sample_seeds=sample_seeds)
        assert self.fixed_mask is not None
        self.known = known
        self._pin = self.fixed_mask.unsqueeze(-1)

    def _pinned(self, x: Tensor) -> Tensor:
        return torch.where(self._pin, self.known.to(x.dtype), x)

    def project(self, x: Tensor) -> Tensor:
        return self._pinned(super().project(self._pinned(x)))

    def randn_like(self, x: Tensor, generator: torch.Generator | None = None) -> Tensor:
        eps = self.raw_randn(x, generator) * (~self._pin).to(x.dtype)
        return GraphSpace.project(self, eps)


class _QM9Molecules(Dataset):
    """QM9 molecules as PyG ``Data`` (``x`` as in the module docstring, ``y`` condition)."""

    def __init__(self, data: Any, domain: MoleculeDomain, y: np.ndarray | None) -> None:
        self.data, self.domain = data, domain
        self.y = None if y is None else torch.as_tensor(y, dtype=torch.float32)

    def __len__(self) -> int:
        return len(self.data)

    def __getitem__(self, k: int) -> Data:
        d = self.data
        a, b = int(d.atom_ptr[k]), int(d.atom_ptr[k + 1])
        pos = torch.as_tensor(d.pos[a:b], dtype=torch.float32)
        pos = pos - pos.mean(0, keepdim=True)
        x = self.domain.encode(torch.as_tensor(d.z[a:b].astype(np.int64)), pos,
                               torch.as_tensor(d.charges[a:b].astype(np.int64)))
        item = Data(x=x, num_nodes=b - a)
        if self.y is not None:
            item.y = self.y[k : k + 1]
        return item


class MoleculeDomain(GraphDomain):
    """EDM-style joint diffusion of coordinates (Å), atom types and charges on QM9.

    Args:
        sigma_data: data std used by the preconditioning (RMS over all columns of ``x``,
            about 0.8 for QM9 with the default scales; coordinates alone: 1.40 Å).
        type_scale: multiplier of the atom-type one-hot (EDM: 0.25).
        charge_scale: multiplier of the formal charge (EDM: 0.1); 0 drops the column.
        properties: QM9 property names to condition on (e.g. ``[alpha]``); empty:
            unconditional model.
        cond_dropout: probability of the null condition in training (classifier-free).
        property_margin: allowed property targets extend beyond the training min / max by
            this fraction of the training range.
        limit_train: use only the first rows of QM9 (tests); every 10th of them is held
            out for validation. ``None``: the fixed train split.
        limit_val: validation molecules kept (valid split).
        bonds: bond assignment of exported SDF files: ``edm`` or ``rdkit``.
        novelty: compute novelty against the training SMILES in :meth:`metrics`.
    """

    name = "molecules"

    def __init__(
        self,
        sigma_data: float = 0.8,
        type_scale: float = 0.25,
        charge_scale: float = 0.1,
        properties: Sequence[str] = (),
        cond_dropout: float = 0.1,
        property_margin: float = 0.1,
        limit_train: int | None = None,
        limit_val: int | None = 1000,
        bonds: str = "edm",
        novelty: bool = True,
    ) -> None:
        from molediff.domains.chem.qm9 import PROPERTY_NAMES

        props = [str(p) for p in (properties or ())]
        unknown = [p for p in props if p not in PROPERTY_NAMES]
        if unknown:
            raise ValueError(f"unknown QM9 properties {unknown}; choose from {list(PROPERTY_NAMES)}")
        if len(set(props)) != len(props):
            raise ValueError(f"duplicate properties in {props}")
        if type_scale <= 0:
            raise ValueError(f"type_scale must be > 0, got {type_scale}")
        if bonds not in ("edm", "rdkit"):
            raise ValueError(f"bonds must be 'edm' or 'rdkit', got {bonds!r}")
        super().__init__(sigma_data=sigma_data, cond_dropout=cond_dropout if props else 0.0)
        self.type_scale = float(type_scale)
        self.charge_scale = float(charge_scale)
        self.properties = tuple(props)
        self.property_margin = float(property_margin)
        self.limit_train = limit_train
        self.limit_val = limit_val
        self.bonds = bonds
        self.novelty = novelty
        self._train: _QM9Molecules | None = None
        self._val: _QM9Molecules | None = None
        self._train_data: Any = None
        self._train_smiles: set[str] | None = None
        self.size_hist: np.ndarray | None = None  # counts of molecules by atom number
        self.prop_mean = self.prop_std = self.prop_min = self.prop_max = None

    # ------------------------------------------------------------- layout
    @property
    def conditional(self) -> bool:
        return bool(self.properties)

    @property
    def num_types(self) -> int:
        return len(ELEMENTS)

    @property
    def num_features(self) -> int:
        """Width ``D`` of ``x``: 3 coordinates, the type one-hot, the charge column."""
        return 3 + self.num_types + (1 if self.charge_scale > 0 else 0)

    def encode(self, z: Tensor, pos: Tensor, charges: Tensor | None = None) -> Tensor:
        """Atoms -> node rows of ``x``.

        Args:
            z: ``[n]`` atomic numbers (H C N O F only).
            pos: ``[n, 3]`` positions in Å (not centred here).
            charges: ``[n]`` formal charges (default 0).

        Raises:
            ValueError: an element outside H C N O F.
        """
        z = torch.as_tensor(z, dtype=torch.long).reshape(-1)
        bad = sorted({int(v) for v in z.tolist()} - set(ATOMIC_NUMBERS))
        if bad:
            from rdkit import Chem

            pt = Chem.GetPeriodicTable()
            names = [pt.GetElementSymbol(b) if 0 < b < 119 else str(b) for b in bad]
            raise ValueError(f"unsupported elements {names}: QM9 models know only {list(ELEMENTS)}")
        idx = torch.tensor([Z_TO_INDEX[int(v)] for v in z.tolist()], dtype=torch.long)
        onehot = torch.nn.functional.one_hot(idx, self.num_types).float() * self.type_scale
        parts = [torch.as_tensor(pos, dtype=torch.float32).reshape(-1, 3), onehot]
        if self.charge_scale > 0:
            q = torch.zeros(len(z)) if charges is None else torch.as_tensor(charges).float()
            parts.append(q.reshape(-1, 1) * self.charge_scale)
        return torch.cat(parts, dim=1)

    # ----------------------------------------------------------------- data
    def setup(self) -> None:
        if self._train is not None:
            return
        from molediff.domains.chem.qm9 import PROPERTY_NAMES
        from molediff.domains.chem.split import train_val_data

        train, val = train_val_data(self.limit_train, self.limit_val)
        self._train_data = train
        sizes = np.diff(train.atom_ptr)
        self.size_hist = np.bincount(sizes).astype(np.float64)
        cols = [PROPERTY_NAMES.index(p) for p in self.properties]
        ytr = yva = None
        if cols:
            p = train.props[:, cols]
            self.prop_mean, self.prop_std = p.mean(0), p.std(0) + 1e-12
            self.prop_min, self.prop_max = p.min(0), p.max(0)
            ytr = self._y_rows(self._normalise(p))
            yva = self._y_rows(self._normalise(val.props[:, cols]))
        self._train = _QM9Molecules(train, self, ytr)
        self._val = _QM9Molecules(val, self, yva)



    @property
    def train_data(self) -> Any:
        """The training molecules as :class:`~molediff.domains.chem.qm9.QM9Data`."""
        self.setup()
        return self._train_data


    def batch_to(self, batch: Batch) -> tuple[Tensor, Batch, GraphSpace]:
        return batch.x, batch, GraphSpace(batch.batch, int(batch.num_graphs))

    # ------------------------------------------------------ conditioning
    def normalise(self, values: np.ndarray) -> np.ndarray:
        """Property values (dataset units, ``[..., P]``) -> training z-scores."""
        self.setup()
        return self._normalise(values)

    def _normalise(self, values: np.ndarray) -> np.ndarray:
        return (np.asarray(values, dtype=np.float64) - self.prop_mean) / self.prop_std

    def property_range(self) -> dict[str, tuple[float, float]]:
        """Allowed target range per conditioned property (dataset units)."""
        self.setup()
        if not self.conditional:
            return {}
        span = self.prop_max - self.prop_min
        lo, hi = self.prop_min - self.property_margin * span, self.prop_max + self.property_margin * span
        return {p: (float(lo[i]), float(hi[i])) for i, p in enumerate(self.properties)}

    def _y_rows(self, z: np.ndarray) -> np.ndarray:
        z = np.asarray(z, dtype=np.float32).reshape(-1, len(self.properties))
        return np.concatenate([z, np.ones((len(z), 1), dtype=np.float32)], axis=1)

    def drop_condition(self, cond: Any, generator: torch.Generator | None = None) -> Any:
        """Replace each molecule's ``y`` by the null row with probability ``cond_dropout``."""
        if not self.conditional or self.cond_dropout <= 0 or getattr(cond, "y", None) is None:
            return cond
        y = cond.y
        keep = torch.rand((y.shape[0], 1), generator=generator, device=y.device) >= self.cond_dropout
        out = copy.copy(cond)
        out.y = y * keep.to(y.dtype)
        return out

    def null_cond(self, cond: Any) -> Any:
        """``cond`` with every ``y`` row set to the null condition (zeros, flag 0)."""
        if not self.conditional or getattr(cond, "y", None) is None:
            return cond
        out = copy.copy(cond)
        out.y = torch.zeros_like(cond.y)
        return out

    # ---------------------------------------------------------------- model
    def net_kwargs(self) -> dict[str, Any]:
        return {"in_features": self.num_features,
                "graph_cond_features": len(self.properties) + 1 if self.conditional else 0}

    # ------------------------------------------------------------- sampling
    def sample_sizes(self, n: int, generator: torch.Generator | None = None,
                     min_atoms: int = 1) -> list[int]:
        """``n`` atom counts drawn from the training histogram (restricted to ``>= min_atoms``)."""
        self.setup()
        assert self.size_hist is not None
        w = torch.as_tensor(self.size_hist.copy())
        w[: min(min_atoms, len(w))] = 0
        if w.sum() <= 0:
            return [int(min_atoms)] * n
        return torch.multinomial(w, n, replacement=True, generator=generator).tolist()

    def _check_properties(self, targets: list[dict[str, float]]) -> None:
        rng = self.property_range()
        for t in targets:
            extra = [k for k in t if k not in self.properties]
            if extra:
                raise ValueError(
                    f"this model is conditioned on {list(self.properties) or 'nothing'}; "
                    f"cannot condition on {extra}"
                )
            missing = [p for p in self.properties if p not in t]
            if missing:
                raise ValueError(f"missing property targets {missing} (model needs {list(self.properties)})")
            for k, v in t.items():
                lo, hi = rng[k]
                v = float(v)
                if not np.isfinite(v) or not lo <= v <= hi:
                    raise ValueError(
                        f"property {k}={v} is outside the supported range [{lo:.4g}, {hi:.4g}] "
                        f"(training min/max widened by {self.property_margin:.0%} of the range)"
                    )

    def _parse_condition(self, condition: Any) -> dict[str, Any]:
        if condition is None:
            return {}
        if hasattr(condition, "_content"):  # OmegaConf containers
            from omegaconf import OmegaConf

            condition = OmegaConf.to_container(condition, resolve=True)
        if isinstance(condition, bool):
            raise ValueError(f"unsupported condition {condition!r}")
        if isinstance(condition, int):
            return {"num_atoms": condition}
        if isinstance(condition, str):
            return {"fragment": condition}
        if not isinstance(condition, Mapping):
            raise ValueError(
                f"condition must be None, an atom count, a fragment or a mapping with keys "
                f"{CONDITION_KEYS}; got {type(condition).__name__}"
            )
        extra = [k for k in condition if k not in CONDITION_KEYS]
        if extra:
            raise ValueError(f"unknown condition keys {extra}; allowed: {CONDITION_KEYS}")
        return dict(condition)

    def template(
        self,
        n: int,
        *,
        condition: Any = None,
        generator: torch.Generator | None = None,
        device: torch.device | str = "cpu",
    ) -> tuple[Tensor, Batch, GraphSpace]:
        """Shapes, condition and space for ``n`` molecules (see the module docstring).

        Raises:
            ValueError: unknown condition keys, unsupported elements in a fragment, a
                fragment with more atoms than requested, atom counts < 1, property targets
                on an unconditional model or outside :meth:`property_range`.
        """
        from molediff.domains.chem.qm9 import PROPERTY_NAMES

        self.setup()
        req = self._parse_condition(condition)
        # -------- fragment
        frag = None
        if req.get("fragment") is not None:
            from molediff.domains.molecules.fragment import load_fragment

            frag = load_fragment(req["fragment"], add_hs=bool(req.get("fragment_add_hs", False)))
            self.encode(frag.atomic_numbers, frag.positions, frag.charges)  # element check
        k_frag = 0 if frag is None else frag.num_atoms
        # -------- property targets
        targets: list[dict[str, float]] = []
        sizes_from_props: list[int] | None = None
        props = req.get("properties")
        if props is not None:
            if not self.conditional:
                raise ValueError("this model is unconditional; it cannot take property targets")
            if isinstance(props, str):
                if props != "sample":
                    raise ValueError(f"properties must be a mapping, a list of mappings or 'sample', got {props!r}")
                data = self.train_data
                cols = [PROPERTY_NAMES.index(p) for p in self.properties]
                pick = torch.randint(len(data), (n,), generator=generator).numpy()
                targets = [{p: float(data.props[i, c]) for p, c in zip(self.properties, cols, strict=True)}
                           for i in pick]
                sizes_from_props = np.diff(data.atom_ptr)[pick].tolist()
            else:
                lst = [props] if isinstance(props, Mapping) else list(props)
                if not lst or not all(isinstance(t, Mapping) for t in lst):
                    raise ValueError(f"properties must be a mapping or a list of mappings, got {props!r}")
                targets = [{str(k): float(v) for k, v in lst[i % len(lst)].items()} for i in range(n)]
            self._check_properties(targets)
        # -------- sizes
        if req.get("num_atoms") is not None:
            na = req["num_atoms"]
            na = [na] if isinstance(na, int | np.integer) else list(na)
            sizes = [int(na[i % len(na)]) for i in range(n)]
            if min(sizes) < 1:
                raise ValueError(f"num_atoms must be >= 1, got {min(sizes)}")
            if k_frag and min(sizes) < k_frag:
                raise ValueError(
                    f"the fragment has {k_frag} atoms but only {min(sizes)} atoms were requested"
                )
        elif sizes_from_props is not None:
            sizes = [max(s, k_frag) for s in sizes_from_props]
        else:
            sizes = self.sample_sizes(n, generator, min_atoms=max(1, k_frag + (1 if k_frag else 0)))
        # -------- assemble
        d = self.num_features
        items, rows, fixed = [], [], []
        for g, size in enumerate(sizes):
            x = torch.zeros(size, d)
            m = torch.zeros(size, dtype=torch.bool)
            if frag is not None:
                x[:k_frag] = self.encode(frag.atomic_numbers, frag.centred_positions, frag.charges)
                m[:k_frag] = True
            item = Data(num_nodes=size)
            if self.conditional:
                if targets:
                    z = self.normalise(np.array([[targets[g][p] for p in self.properties]]))
                    item.y = torch.as_tensor(self._y_rows(z))
                else:
                    item.y = torch.zeros(1, len(self.properties) + 1)
            item.offset = torch.as_tensor(
                frag.centre if frag is not None else np.zeros(3), dtype=torch.float64).reshape(1, 3)
            items.append(item)
            rows.append(x)
            fixed.append(m)
        batch = Batch.from_data_list(items)
        batch.targets = targets
        batch = batch.to(device)
        x = torch.cat(rows).to(device)
        if frag is not None:
            mask = torch.cat(fixed).to(device)
            space: GraphSpace = PinnedGraphSpace(batch.batch, int(batch.num_graphs), mask, x)
            batch.fixed_mask = mask
        else:
            space = GraphSpace(batch.batch, int(batch.num_graphs))
        return x, batch, space

    def decode(self, x: Tensor, cond: Batch, space: GraphSpace) -> list[GeneratedMolecule]:
        """Argmax atom types, rounded charges, positions in Å (fragment frame restored)."""
        x = x.detach().double().cpu()
        ptr = cond.ptr.detach().cpu().tolist()
        offset = getattr(cond, "offset", None)
        offset = offset.detach().cpu().double() if offset is not None else None
        targets = getattr(cond, "targets", None) or []
        fixed = getattr(cond, "fixed_mask", None)
        fixed = fixed.detach().cpu() if fixed is not None else None
        zs = torch.tensor(ATOMIC_NUMBERS)[x[:, 3 : 3 + self.num_types].argmax(1)]
        if self.charge_scale > 0:
            q = (x[:, 3 + self.num_types] / self.charge_scale).round().clamp(-1, 1).long()
        else:
            q = torch.zeros(len(x), dtype=torch.long)
        out = []
        for g in range(len(ptr) - 1):
            a, b = ptr[g], ptr[g + 1]
            pos = x[a:b, :3]
            if offset is not None:
                pos = pos + offset[g]
            out.append(GeneratedMolecule(
                atomic_numbers=zs[a:b].numpy().astype(np.int64),
                positions=pos.numpy(),
                charges=q[a:b].numpy(),
                target=dict(targets[g]) if g < len(targets) else {},
                fixed=None if fixed is None else fixed[a:b].numpy(),
            ))
        return out

    # ---------------------------------------------------- metrics and export
    def train_smiles(self) -> set[str]:
        """Canonical SMILES (no H, no stereo) of the training molecules, cached on disk."""
        if self._train_smiles is None:
            from molediff.domains.chem.qm9 import cache_dir
            from molediff.domains.molecules.metrics import canonical_smiles_set

            smiles = [str(s) for s in self.train_data.smiles]
            key = hashlib.sha256("\n".join(smiles).encode()).hexdigest()[:16]
            path = cache_dir() / f"qm9_train_canonical_{key}.txt"
            if path.exists():
                self._train_smiles = set(path.read_text().split("\n")) - {""}
            else:
                self._train_smiles = canonical_smiles_set(smiles)
                try:
                    from molediff.domains.molecules.io import atomic_write_text

                    atomic_write_text(path, "\n".join(sorted(self._train_smiles)))
                except OSError:
                    pass
        return self._train_smiles

    def generate(self, draw: Draw, num_samples: int, *, condition: Any = None,
                 **kwargs: Any) -> list[GeneratedMolecule]:
        """The default chunked generation, after the request (``condition``: sizes,
        fragment, property targets) has been checked once, before any sampling: a bad
        request is one :class:`~molediff.utils.errors.UsageError` line."""
        try:
            self.template(1, condition=condition)
        except ValueError as exc:
            raise UsageError(f"condition: {exc}") from None
        return super().generate(draw, num_samples, condition=condition, **kwargs)

    def metrics(self, samples: list[GeneratedMolecule]) -> dict[str, float]:
        """:func:`~molediff.domains.molecules.metrics.evaluate_molecules` (EDM and corrected
        stability, validity, uniqueness, novelty vs the training SMILES)."""
        from molediff.domains.molecules.metrics import evaluate_molecules

        if not samples:
            return {"num_samples": 0.0}
        train = self.train_smiles() if self.novelty else None
        out = evaluate_molecules([s.pair() for s in samples], train, train_smiles_canonical=True)
        out["num_samples"] = float(len(samples))
        out["mean_atoms"] = float(np.mean([len(s.atomic_numbers) for s in samples]))
        return out

    def export(self, samples: list[GeneratedMolecule], out_dir: str | Path) -> list[Path]:
        """``molecules.sdf`` (bonds from ``self.bonds``) and ``molecules.xyz``."""
        from molediff.domains.molecules.io import write_sdf, write_xyz

        out_dir = Path(out_dir)
        pairs = [s.pair() for s in samples]
        props = [{f"target_{k}": v for k, v in s.target.items()} for s in samples]
        return [
            write_sdf(out_dir / "molecules.sdf", pairs, bonds=self.bonds, properties=props),
            write_xyz(out_dir / "molecules.xyz", pairs),
        ]


__all__ = ["MoleculeDomain", "GeneratedMolecule", "PinnedGraphSpace", "ELEMENTS",
           "ATOMIC_NUMBERS", "QM9_COORD_STD"]
