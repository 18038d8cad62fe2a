"""The conformer domain: 3D coordinates (Å, hydrogens included) diffused over a
:class:`~molediff.core.space.GraphSpace`, conditioned on the molecular graph.

- ``x``: ``[N, 3]`` atom coordinates in Å, centred per molecule (the space projects).
- ``cond``: a PyG ``Batch`` from :mod:`molediff.domains.chem.featurize` with node
  features ``h`` (atom type, charge, aromaticity, hybridisation, chirality tag + CIP
  label, ring), bond ``edge_index`` / ``edge_attr`` (bond type, bond stereo, conjugation,
  ring); the network unites the bonds with fully connected (or radius) spatial edges.
- decoded samples: RDKit molecules (explicit H, one conformer each) rebuilt from the
  condition graph, so their connectivity is exactly the input's.

The EGNN is E(3)-equivariant *including reflections*, so it cannot tell a molecule from
its mirror image; stereo is enforced after sampling by
:mod:`molediff.domains.conformers.generate` (check, resample, mirror).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch
from rdkit import Chem
from torch import Tensor
from torch.utils.data import Dataset
from torch_geometric.data import Batch, Data

from molediff.core.space import GraphSpace
from molediff.domains.base import Draw, Generator, Progress
from molediff.domains.chem.featurize import (
    ATOMIC_NUMBERS,
    BOND_TYPES,
    DEFAULT_MAX_HEAVY_ATOMS,
    EDGE_FEATURE_SLICES,
    FORMAL_CHARGES,
    NODE_FEATURE_SLICES,
    NUM_EDGE_FEATURES,
    NUM_NODE_FEATURES,
    smiles_to_data,
)
from molediff.domains.chem.geometry import DEFAULT_GATE, GeometryGate
from molediff.domains.conformers.generate import (
    ConformerResult,
    generate_conformers,
    nothing_generated,
    summarize,
)
from molediff.domains.graph_domain import GraphDomain
from molediff.utils.errors import InputError, UsageError

#: coordinate standard deviation of centred QM9 DFT geometries, Å (all atoms, per axis)
QM9_SIGMA_DATA = 1.40
#: the elements of QM9, all a QM9-trained model has ever seen
QM9_ELEMENTS: tuple[str, ...] = ("H", "C", "N", "O", "F")


class _CachedDataset(Dataset):
    """Featurise each item once (about 1.7 ms per QM9 molecule), then reuse it."""

    def __init__(self, base: Dataset) -> None:
        self.base = base
        self._cache: dict[int, Data] = {}

    def __len__(self) -> int:
        return len(self.base)  # type: ignore[arg-type]

    def mol(self, k: int) -> Chem.Mol:
        return self.base.mol(k)  # type: ignore[attr-defined]

    def __getitem__(self, k: int) -> Data:
        k = int(k)
        item = self._cache.get(k)
        if item is None:
            item = self.base[k]
            self._cache[k] = item
        return item


def graph_to_mol(
    z: Tensor, edge_index: Tensor, edge_attr: Tensor, h: Tensor | None = None,
    pos: Tensor | None = None,
) -> Chem.Mol:
    """Rebuild an RDKit molecule (explicit H, atom order kept) from a featurised graph.

    Args:
        z: ``[n]`` atomic numbers.
        edge_index: ``[2, 2E]`` bonds in both directions (local indices ``0..n-1``).
        edge_attr: ``[2E, 10]`` bond features (bond type one-hot in columns 0:4).
        h: ``[n, F]`` node features (formal charge and aromaticity are read from it).
        pos: ``[n, 3]`` coordinates in Å; adds one conformer when given.
    """
    rw = Chem.RWMol()
    for i, zi in enumerate(z.tolist()):
        atom = Chem.Atom(int(zi))
        atom.SetNoImplicit(True)
        if h is not None:
            fc = h[i, NODE_FEATURE_SLICES["formal_charge"]]
            k = int(fc.argmax())
            atom.SetFormalCharge(FORMAL_CHARGES[k] if k < len(FORMAL_CHARGES) else 0)
            atom.SetIsAromatic(bool(h[i, NODE_FEATURE_SLICES["aromatic"]].sum() > 0.5))
        rw.AddAtom(atom)
    bt = edge_attr[:, EDGE_FEATURE_SLICES["bond_type"]].argmax(1).tolist()
    for (i, j), t in zip(edge_index.t().tolist(), bt, strict=True):
        if i < j and rw.GetBondBetweenAtoms(i, j) is None:
            rw.AddBond(int(i), int(j), BOND_TYPES[t])
            if BOND_TYPES[t] == Chem.BondType.AROMATIC:
                rw.GetBondBetweenAtoms(i, j).SetIsAromatic(True)
    mol = rw.GetMol()
    try:
        Chem.SanitizeMol(mol)
    except Exception:  # noqa: BLE001 - keep an unsanitised molecule rather than nothing
        mol.UpdatePropertyCache(strict=False)
    if pos is not None:
        conf = Chem.Conformer(mol.GetNumAtoms())
        for i, p in enumerate(pos.double().tolist()):
            conf.SetAtomPosition(i, p)
        conf.Set3D(True)
        mol.AddConformer(conf, assignId=True)
    return mol


def connectivity_matches(mol: Chem.Mol, conf_id: int = -1, charge: int = 0) -> bool:
    """Do bonds perceived from the 3D geometry (RDKit ``DetermineConnectivity``,
    covalent radii) equal the molecule's graph?"""
    from rdkit.Chem import rdDetermineBonds

    probe = Chem.RWMol(mol)
    for b in list(probe.GetBonds()):
        probe.RemoveBond(b.GetBeginAtomIdx(), b.GetEndAtomIdx())
    probe = probe.GetMol()
    probe.RemoveAllConformers()
    probe.AddConformer(Chem.Conformer(mol.GetConformer(conf_id)), assignId=True)
    try:
        rdDetermineBonds.DetermineConnectivity(probe, charge=charge)
    except Exception:  # noqa: BLE001
        return False
    want = {tuple(sorted((b.GetBeginAtomIdx(), b.GetEndAtomIdx()))) for b in mol.GetBonds()}
    got = {tuple(sorted((b.GetBeginAtomIdx(), b.GetEndAtomIdx()))) for b in probe.GetBonds()}
    return want == got


class ConformerDomain(GraphDomain):
    """Conformer generation on QM9 (DFT geometries, explicit hydrogens).

    Args:
        sigma_data: coordinate std of the data in Å (QM9: 1.40).
        limit_train: use only the first ``limit_train`` training molecules (tests, debug).
        limit_val: validation molecules kept (the validation loss is cheap but not free).
        max_heavy_atoms: size limit of inference inputs (heavy atoms).
        cache: featurise each molecule once and keep it in memory.
        elements: element symbols the model is trained on; generation refuses molecules
            with any other element before sampling (a model cannot place atoms it has
            never seen: C–I bonds come out at C–C lengths). Default: QM9's H C N O F.
        ccd_repeats: also train on the drug-like ligands of the CCD train split (ideal
            geometries; 8–50 heavy atoms, H C N O F P S Cl Br I), repeated this many times
            per epoch next to QM9's train split (0: QM9 only). Validation then adds the
            first ``limit_val`` ligands of the CCD valid split.
        start_sigma: generation's default start: ``None`` draws from pure noise;
            a level in Å draws ETKDG-seeded partial diffusion from it (every draw starts
            from its own ETKDGv3 embedding noised to this level; see
            :func:`~molediff.domains.conformers.generate.generate_conformers`).

    Attribute ``geometry_gate``: the :class:`~molediff.domains.chem.geometry.GeometryGate`
    every generated conformer must pass (default: the fitted table); replace it to check
    a model against other tolerances.
    """

    name = "conformers"

    def __init__(
        self,
        sigma_data: float = QM9_SIGMA_DATA,
        limit_train: int | None = None,
        limit_val: int | None = 512,
        max_heavy_atoms: int = DEFAULT_MAX_HEAVY_ATOMS,
        cache: bool = True,
        elements: Sequence[str] = QM9_ELEMENTS,
        ccd_repeats: int = 0,
        start_sigma: float | None = None,
    ) -> None:
        super().__init__(sigma_data=sigma_data, cond_dropout=0.0)
        if start_sigma is not None and not float(start_sigma) > 0:
            raise ValueError(f"start_sigma must be a noise level > 0 Å or null, got {start_sigma}")
        self.start_sigma = None if start_sigma is None else float(start_sigma)
        if isinstance(elements, str) or not elements:
            raise ValueError(
                f"elements must be a non-empty list of element symbols, got {elements!r}")
        self.elements: tuple[str, ...] = tuple(str(e) for e in elements)
        self.geometry_gate: GeometryGate = DEFAULT_GATE
        self.limit_train = limit_train
        self.limit_val = limit_val
        self.max_heavy_atoms = int(max_heavy_atoms)
        self.cache = cache
        if int(ccd_repeats) < 0:
            raise ValueError(f"ccd_repeats must be >= 0, got {ccd_repeats}")
        self.ccd_repeats = int(ccd_repeats)
        self._train: Dataset | None = None
        self._val: Dataset | None = None

    # ----------------------------------------------------------------- data
    def setup(self) -> None:
        if self._train is not None:
            return
        from molediff.domains.chem.split import train_val_data
        from molediff.domains.conformers.data import (
            CCDConformerDataset,
            MoleculeMix,
            QM9ConformerDataset,
        )

        wrap = _CachedDataset if self.cache else (lambda d: d)
        train_data, val_data = train_val_data(self.limit_train, self.limit_val)
        train = wrap(QM9ConformerDataset(split=None, data=train_data))
        val = wrap(QM9ConformerDataset(split=None, data=val_data))
        if self.ccd_repeats == 0:
            self._train, self._val = train, val
            return
        ccd_train = wrap(CCDConformerDataset("train", limit=self.limit_train))
        ccd_val = wrap(CCDConformerDataset("valid", limit=self.limit_val))
        self._train = MoleculeMix([train, ccd_train], [1, self.ccd_repeats])
        self._val = MoleculeMix([val, ccd_val])




    def batch_to(self, batch: Batch) -> tuple[Tensor, Batch, GraphSpace]:
        if batch.pos is None:
            raise ValueError("batch has no positions (an inference batch cannot train)")
        return batch.pos, batch, GraphSpace(batch.batch, int(batch.num_graphs))

    # ---------------------------------------------------------------- model
    def net_kwargs(self) -> dict[str, Any]:
        return {"in_features": 3, "cond_features": NUM_NODE_FEATURES,
                "edge_features": NUM_EDGE_FEATURES}

    # ------------------------------------------------------------- sampling
    def template(
        self,
        n: int,
        *,
        condition: Any = None,
        generator: torch.Generator | None = None,
        device: torch.device | str = "cpu",
    ) -> tuple[Tensor, Batch, GraphSpace]:
        """``n`` molecules to generate: ``condition`` is a SMILES or a list of SMILES
        (cycled), or ``None`` for the first validation molecules (cycled)."""
        items: list[Data] = []
        if condition is None:
            val = self.val_dataset()
            assert val is not None and len(val) > 0
            for i in range(n):
                d = val[i % len(val)].clone()
                d.pos = None
                items.append(d)
        else:
            smiles = [condition] if isinstance(condition, str) else list(condition)
            base = [smiles_to_data(s, self.max_heavy_atoms) for s in smiles]
            items = [base[i % len(base)].clone() for i in range(n)]
        batch = Batch.from_data_list(items).to(device)
        x = torch.zeros(batch.num_nodes, 3, device=device)
        return x, batch, GraphSpace(batch.batch, int(batch.num_graphs))

    def decode(self, x: Tensor, cond: Batch, space: GraphSpace) -> list[Chem.Mol]:
        """One RDKit molecule per graph, connectivity from ``cond``, coordinates (Å) from ``x``."""
        x = x.detach().float().cpu()
        cond = cond.to("cpu")
        ptr = cond.ptr.tolist()
        ei, ea = cond.edge_index, cond.edge_attr
        ebatch = cond.batch[ei[0]]
        out = []
        smiles = cond.smiles if isinstance(cond.smiles, list) else [cond.smiles]
        for g in range(int(cond.num_graphs)):
            a, b = ptr[g], ptr[g + 1]
            m = ebatch == g
            mol = graph_to_mol(cond.z[a:b], ei[:, m] - a, ea[m], cond.h[a:b], x[a:b, :3])
            mol.SetProp("source_smiles", str(smiles[g]))
            out.append(mol)
        return out

    def generate(
        self,
        draw: Draw,
        num_samples: int,
        *,
        condition: Any = None,
        seed: int = 0,
        batch_size: int = 64,
        device: torch.device | str = "cpu",
        progress: Progress | None = None,
        max_rounds: int = 6,
        relax: bool = False,
        prune_rms: float = 0.0,
        max_pairs: int = 32_768,
        time_limit: float | None = None,
        stereo_guidance: bool | dict[str, float] = True,
        start_sigma: float | None | str = "default",
        strict: bool = True,
    ) -> list[ConformerResult]:
        """Stereo- and geometry-checked conformers
        (:func:`~molediff.domains.conformers.generate.generate_conformers`); molecules with
        elements outside ``self.elements`` fail without sampling.

        ``start_sigma``: ``"default"`` takes the domain's (``self.start_sigma``), ``None``
        forces draws from pure noise, a level in Å forces ETKDG-seeded draws from it.
        ``strict=False`` returns the failed results instead of raising when no given
        molecule succeeds (a caller merging several models' results reports them).

        ``condition``: a SMILES / RDKit molecule or a list of them; ``None`` takes the
        first validation molecules. The ``num_samples`` conformers are dealt to the
        molecules in turn (conformer ``i`` to molecule ``i mod m``), so ``k · m`` gives
        every molecule ``k``. Returns one :class:`ConformerResult` per molecule; raises
        :class:`InputError` when none of the given molecules succeeds (with
        ``condition=None`` the failed results are returned for the metrics to count).
        """
        if condition is None:
            val = self.val_dataset()
            if val is None or len(val) == 0:
                raise UsageError("no validation molecules to sample for: give condition=SMILES")
            base = getattr(val, "base", val)  # the featurising cache wraps the QM9 dataset
            inputs: list[Any] = [_without_conformers(base.mol(i))
                                 for i in range(min(num_samples, len(val)))]
        elif isinstance(condition, str | Chem.Mol):
            inputs = [condition]
        else:
            inputs = list(condition)
        if not inputs:
            raise UsageError("condition is an empty list of molecules")
        m = len(inputs)
        counts = [num_samples // m + (1 if i < num_samples % m else 0) for i in range(m)]
        keep = [i for i, c in enumerate(counts) if c > 0]
        try:
            results = generate_conformers(
                draw, [inputs[i] for i in keep], [counts[i] for i in keep], seed=seed,
                batch_size=batch_size, max_rounds=max_rounds, relax=relax, prune_rms=prune_rms,
                max_pairs=max_pairs, time_limit=time_limit, stereo_guidance=stereo_guidance,
                start_sigma=self.start_sigma if start_sigma == "default" else start_sigma,
                max_heavy_atoms=self.max_heavy_atoms, device=device, progress=progress,
                elements=self.elements, gate=self.geometry_gate)
        except ValueError as exc:  # an invalid option, not a bad molecule (those are per result)
            raise UsageError(str(exc)) from None
        # Validation molecules (condition=None: training's sample metrics) are valid by
        # construction: if none comes out, that is the model's quality, which the metrics
        # report (succeeded 0, geometry_rejected ...), not an input error that would stop
        # a training run whose early samples cannot pass the geometry gate yet.
        if strict and condition is not None and not any(r.ok for r in results):
            raise InputError(nothing_generated(results))
        return results

    # ---------------------------------------------------- metrics and export
    def metrics(self, samples: list[ConformerResult]) -> dict[str, float]:
        """Over every returned conformer: ``connectivity_match`` (fraction whose bonds,
        perceived from 3D, equal the input graph), ``min_distance`` (mean closest
        interatomic distance, Å); and the generation counters of :func:`summarize`
        (molecules, failures, stereo draws, mirrored, resampled, dropped)."""
        import numpy as np

        counts = summarize(samples)
        out = {k: float(v) for k, v in counts.items()}
        mols = [Chem.Mol(r.mol, confId=c.GetId()) for r in samples if r.ok
                for c in r.mol.GetConformers()]
        out["num_samples"] = float(len(mols))
        if not mols:
            return out
        ok, dmin = 0, []
        for mol in mols:
            ok += int(connectivity_matches(mol, charge=Chem.GetFormalCharge(mol)))
            p = mol.GetConformer().GetPositions()
            d = np.linalg.norm(p[:, None] - p[None], axis=-1) + np.eye(len(p)) * 1e9
            dmin.append(float(d.min()) if len(p) > 1 else 0.0)
        out["connectivity_match"] = ok / len(mols)
        out["min_distance"] = float(np.mean(dmin))
        return out

    def reference_metrics(self, model: Generator, *, num_references: int,
                          seed: int = 0) -> dict[str, float]:
        """Recall of QM9 test-split DFT geometries, K = 10 conformers each, through the
        model's own (stereo-checked) generation: COV-R/P and AMR-R/P at 0.5 Å, best-of-K
        RMSD, diversity, PoseBusters (:func:`molediff.domains.conformers.evaluation.evaluate_model`)."""
        if num_references <= 0:
            return {}
        from molediff.domains.conformers.evaluation import evaluate_model

        return evaluate_model(model, num_references=num_references, seed=seed)

    def export(self, samples: list[ConformerResult], out_dir: str | Path) -> list[Path]:
        """``conformers.sdf``: every returned conformer with its SDF properties."""
        from molediff.domains.conformers.io import write_sdf

        records = [rec for r in samples if r.ok for rec in r.records()]
        return [write_sdf(Path(out_dir) / "conformers.sdf", records)]


def _without_conformers(mol: Any) -> Any:
    if isinstance(mol, Chem.Mol):
        mol = Chem.Mol(mol)
        mol.RemoveAllConformers()
    return mol


__all__ = ["ConformerDomain", "graph_to_mol", "connectivity_matches", "QM9_SIGMA_DATA",
           "QM9_ELEMENTS", "ATOMIC_NUMBERS"]
