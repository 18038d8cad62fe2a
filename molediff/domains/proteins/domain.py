"""The protein backbone domain: N, CA, C, O of every residue as four vector channels on a
:class:`~molediff.domains.proteins.space.ProteinSpace` (``x [L, 12]``, Å).

- ``cond``: a PyG ``Batch`` from :mod:`molediff.domains.proteins.features` (sinusoidal
  residue position, chain ends, motif flag; relative-position edges within 8 residues),
  which the EGNN unites with kNN edges: memory linear in length, and length is simply the
  number of nodes of the template.
- training: whole chains of the shipped data (``data/proteins/chains.npz``); with
  probability ``motif_prob`` a chain gets random motif segments that are held fixed
  (no noise, no loss, flagged in ``h``), so the model learns to scaffold given residues.
- generation (:meth:`ProteinDomain.generate`): unconditional lengths or ranges, contigs
  (motif scaffolding), C_n / D_n symmetry, partial diffusion from an input; every design
  passes :class:`~molediff.domains.proteins.checks.BackboneCheck` or is resampled, then
  dropped, and counted.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor
from torch_geometric.data import Batch

from molediff.core.space import sample_seed
from molediff.domains.base import Draw, Progress
from molediff.domains.graph_domain import GraphDomain
from molediff.domains.proteins.checks import DEFAULT_CHECK, BackboneCheck
from molediff.domains.proteins.data import (
    ChainDataset,
    backbone_to_data,
    load_chains,
)
from molediff.domains.proteins.features import EDGE_FEATURES, MOTIF_COLUMN, NODE_FEATURES
from molediff.domains.proteins.request import DesignPlan, DesignRequest, build_request
from molediff.domains.proteins.space import CA_CHANNEL, CHANNELS, COORD_DIMS, ProteinSpace
from molediff.domains.proteins.symmetry import SymmetryLayout, group_order, rotations
from molediff.utils.errors import InputError, UsageError

#: per-axis standard deviation of CA-centred training backbones (all four atoms), Å
SIGMA_DATA = 9.93
#: lengths sampled when no request is given (training-time samples, ``molediff sample``)
DEFAULT_LENGTHS = "60-128"


@dataclass
class Design:
    """One generated backbone: ``coords [L, 4, 3]`` (Å), ``chain [L]`` chain numbers,
    ``motif [L]`` residues that were held fixed, its metrics, how many sampling rounds
    it took and, when asked for, ProteinMPNN ``sequences`` as ``(sequence,
    log-likelihood per residue in nats)`` pairs, best first, and the sampling
    ``trajectory [T, L, 4, 3]`` (Å): the network's clean-backbone prediction after each
    sampler step, then the written (refined) backbone."""

    index: int
    coords: np.ndarray
    chain: np.ndarray
    motif: np.ndarray
    metrics: dict[str, float]
    rounds: int
    segments: list[str] = field(default_factory=list)
    sequences: list[tuple[str, float]] = field(default_factory=list)
    trajectory: np.ndarray | None = None


@dataclass
class DesignSet:
    """What :meth:`ProteinDomain.generate` returns: the designs that passed the check, the
    run's counters (``requested``, ``returned``, ``resampled``, ``dropped``,
    ``failed_<check>``) and its settings (written into every PDB and the CSV)."""

    designs: list[Design]
    counts: dict[str, int]
    settings: dict[str, str]
    symmetry: tuple[str, int] | None = None


class ProteinDomain(GraphDomain):
    """Protein backbone generation.

    Args:
        sigma_data: coordinate std of the data, Å.
        data_path: the chains file (default ``data/proteins/chains.npz``).
        limit_train, limit_val: first chains of each part only (tests, debug).
        max_length: longest training chain kept (residues).
        max_design_length: longest design the command accepts (residues, all chains).
        motif_prob: share of training chains given random fixed motif segments.
        motif_fraction: ``[lo, hi]`` share of a chain's residues in its motif.
    """

    name = "proteins"

    def __init__(self, sigma_data: float = SIGMA_DATA, data_path: str | None = None,
                 limit_train: int | None = None, limit_val: int | None = 256,
                 max_length: int = 256, max_design_length: int = 1000,
                 motif_prob: float = 0.3, motif_fraction: tuple[float, float] = (0.05, 0.3),
                 ) -> None:
        super().__init__(sigma_data=sigma_data, cond_dropout=0.0)
        if not 0.0 <= motif_prob <= 1.0:
            raise ValueError(f"motif_prob must be in [0, 1], got {motif_prob}")
        self.data_path = data_path
        self.limit_train = limit_train
        self.limit_val = limit_val
        self.max_length = int(max_length)
        self.max_design_length = int(max_design_length)
        self.motif_prob = float(motif_prob)
        self.motif_fraction = (float(motif_fraction[0]), float(motif_fraction[1]))
        self.check: BackboneCheck = DEFAULT_CHECK

    # ----------------------------------------------------------------- data
    def setup(self) -> None:
        if self._train is not None:
            return
        self._train = ChainDataset(load_chains("train", self.data_path, self.limit_train,
                                               self.max_length))
        self._val = ChainDataset(load_chains("valid", self.data_path, self.limit_val,
                                             self.max_length))

    def batch_to(self, batch: Batch) -> tuple[Tensor, Batch, ProteinSpace]:
        if batch.pos is None:
            raise ValueError("batch has no positions (an inference batch cannot train)")
        x0 = batch.pos
        ng = int(batch.num_graphs)
        fixed = self._training_motifs(batch) if self.motif_prob > 0 else None
        if fixed is None or not bool(fixed.any()):
            return x0, batch, ProteinSpace(batch.batch, ng)
        batch = batch.clone()
        batch.h = batch.h.clone()
        batch.h[:, MOTIF_COLUMN] = fixed.to(batch.h.dtype)
        # the whole chain centred on its motif's CA centroid, so the pinned motif rows and
        # the free rows share one frame
        x0 = ProteinSpace(batch.batch, ng, fixed_mask=fixed, known=x0).centred(x0)
        return x0, batch, ProteinSpace(batch.batch, ng, fixed_mask=fixed, known=x0)

    def _training_motifs(self, batch: Batch) -> Tensor:
        """Random motifs: for a ``motif_prob`` share of the chains, 1–3 contiguous segments
        covering ``motif_fraction`` of the residues."""
        ptr = batch.ptr.tolist()
        fixed = torch.zeros(batch.num_nodes, dtype=torch.bool, device=batch.pos.device)
        lo, hi = self.motif_fraction
        for g in range(int(batch.num_graphs)):
            n = ptr[g + 1] - ptr[g]
            if n < 20 or float(torch.rand(())) >= self.motif_prob:
                continue
            total = max(3, int(n * (lo + (hi - lo) * float(torch.rand(())))))
            k = int(torch.randint(1, 4, ()))
            for _ in range(k):
                size = max(3, total // k)
                start = int(torch.randint(0, max(1, n - size), ()))
                fixed[ptr[g] + start : ptr[g] + start + size] = True
        return fixed

    # ---------------------------------------------------------------- model
    def net_kwargs(self) -> dict[str, Any]:
        # the update is centred on the CA channel, as the space centres designs
        return {"in_features": COORD_DIMS, "vector_channels": CHANNELS,
                "cond_features": NODE_FEATURES, "edge_features": EDGE_FEATURES,
                "centre_channel": CA_CHANNEL}

    # ------------------------------------------------------------- sampling
    def request(self, **settings: Any) -> DesignRequest:
        """A validated :class:`DesignRequest` (``length``, ``contig``, ``symmetry``,
        ``structure``, ``partial_sigma``) within this model's length limit."""
        return build_request(max_length=self.max_design_length, **settings)

    def template(self, n: int, *, condition: Any = None,
                 generator: torch.Generator | None = None,
                 device: torch.device | str = "cpu") -> tuple[Tensor, Batch, ProteinSpace]:
        """``condition``: a list of :class:`DesignPlan`, a :class:`DesignRequest`, or
        ``None`` (lengths ``DEFAULT_LENGTHS``)."""
        if isinstance(condition, list):
            plans = condition
        else:
            req = condition if isinstance(condition, DesignRequest) else self.request(
                length=DEFAULT_LENGTHS)
            seed = int(torch.randint(0, 2**62, (), generator=generator)) if generator else 0
            rng = np.random.default_rng(seed)
            plans = [req.plan(rng) for _ in range(n)]
        return self._batch(plans, None, None, device)

    def _batch(self, plans: list[DesignPlan], seeds: list[int] | None,
               symmetry: tuple[str, int] | None, device: torch.device | str,
               ) -> tuple[Tensor, Batch, ProteinSpace]:
        items, rows, motif = [], [], []
        for p in plans:
            chain = torch.as_tensor(p.chain, dtype=torch.long)
            m = torch.as_tensor(p.motif, dtype=torch.bool)
            items.append(backbone_to_data(None, chain, m))
            x = np.zeros((p.length, 4, 3))
            if p.known is not None and p.motif.any():
                known = p.known - p.known[p.motif][:, CA_CHANNEL].mean(0)
                x[p.motif] = known[p.motif]
            if p.start is not None:
                x = p.start
            rows.append(torch.as_tensor(x, dtype=torch.float32).reshape(p.length, COORD_DIMS))
            motif.append(m)
        batch = Batch.from_data_list(items).to(device)
        template = torch.cat(rows).to(device)
        fixed = torch.cat(motif).to(device)
        layout, g = None, 1
        if symmetry is not None:
            layout, g = _symmetry_layout(plans, symmetry), group_order(symmetry)
            layout = layout.to(device, template.dtype)
        space = ProteinSpace(batch.batch, len(plans),
                             fixed_mask=fixed if bool(fixed.any()) else None,
                             known=template if bool(fixed.any()) else None,
                             symmetry=layout, group_size=g, sample_seeds=seeds)
        return template, batch, space

    def decode(self, x: Tensor, cond: Batch, space: Any) -> list[np.ndarray]:
        """Backbones ``[L, 4, 3]`` (Å, float64) per graph."""
        x = x.detach().double().cpu()
        ptr = cond.ptr.tolist()
        return [x[ptr[g] : ptr[g + 1]].reshape(-1, 4, 3).numpy()
                for g in range(int(cond.num_graphs))]

    def generate(self, draw: Draw, num_samples: int, *, condition: Any = None, seed: int = 0,
                 batch_size: int = 16, device: torch.device | str = "cpu",
                 progress: Progress | None = None, max_rounds: int = 4, refine: bool = True,
                 trajectory: bool = False, **settings: Any) -> DesignSet:
        """``num_samples`` checked designs.

        ``condition``: a :class:`DesignRequest` (from :meth:`request`), or ``None`` and the
        request's settings as keywords (``length``, ``contig``, ``symmetry``, ``structure``,
        ``partial_sigma``); with neither, lengths ``DEFAULT_LENGTHS``. Designs failing the
        backbone check are resampled with fresh noise for up to ``max_rounds`` rounds in
        all, then dropped; both are counted. ``refine``: restrained geometry minimisation
        of each sample before the check (:mod:`~molediff.domains.proteins.refine`; motif
        residues held, symmetry restored); the raw sample's CA–CA deviation, clashes and
        bond deviation are kept as ``raw_*`` metrics. ``trajectory``: keep each design's
        sampling trajectory (:attr:`Design.trajectory`). Design ``i`` depends only on
        ``seed`` and ``i`` (its layout and its noise), not on the batch size.
        """
        if max_rounds < 1:
            raise UsageError(f"max_rounds must be >= 1, got {max_rounds}")
        if condition is None:
            condition = self.request(**settings) if settings else self.request(
                length=DEFAULT_LENGTHS)
        elif settings:
            raise UsageError("give either a DesignRequest or its settings, not both")
        if not isinstance(condition, DesignRequest):
            raise UsageError(f"proteins: condition must be a DesignRequest, got "
                             f"{type(condition).__name__}")
        req = condition
        plans = [req.plan(np.random.default_rng(sample_seed(seed, "plan", i)))
                 for i in range(num_samples)]
        counts: dict[str, int] = {"requested": num_samples, "resampled": 0, "dropped": 0}
        done: dict[int, Design] = {}
        pending = list(range(num_samples))
        for r in range(max_rounds):
            failed: list[int] = []
            for c0 in range(0, len(pending), batch_size):
                chunk = pending[c0 : c0 + batch_size]
                seeds = [sample_seed(seed, "noise", i, r) for i in chunk]
                template, cond, space = self._batch([plans[i] for i in chunk], seeds,
                                                    req.symmetry, device)
                frames: dict[int, Tensor] = {}
                kw: dict[str, Any] = {}
                if req.partial_sigma is not None:
                    kw["start_sigma"] = req.partial_sigma
                if trajectory:  # the last prediction of each step (Heun evaluates twice)
                    kw["callback"] = partial(_record_prediction, frames)
                x = draw(template, cond, space, None, **kw)
                paths = (list(zip(*[self.decode(frames[k], cond, space) for k in sorted(frames)],
                                  strict=True)) if trajectory else [()] * len(chunk))
                passed = 0
                for i, bb, path in zip(chunk, self.decode(x, cond, space), paths, strict=True):
                    p = plans[i]
                    raw = _raw_metrics(bb, p.chain)
                    if refine:
                        bb = self._refine(bb, p, req)
                    fails = self.check.failures(bb, p.chain)
                    for f in fails:
                        counts[f"failed_{f}"] = counts.get(f"failed_{f}", 0) + 1
                    if fails:
                        failed.append(i)
                        continue
                    done[i] = Design(i, bb, p.chain, p.motif, self._metrics(bb, p, req) | raw,
                                     r + 1, p.segments,
                                     trajectory=np.stack([*path, bb]) if trajectory else None)
                    passed += 1
                if progress is not None and passed:
                    progress(passed)
            pending = failed
            if not pending:
                break
            if r + 1 < max_rounds:
                counts["resampled"] += len(pending)
                if progress is not None:
                    progress(0, stage=f"resampling {len(pending)} (round {r + 2})")
        counts["dropped"] = len(pending)
        counts["returned"] = len(done)
        settings_out = req.settings() | {"seed": str(seed), "refine": str(bool(refine)).lower()}
        return DesignSet([done[i] for i in sorted(done)], counts, settings_out, req.symmetry)

    @staticmethod
    def _refine(bb: np.ndarray, plan: DesignPlan, req: DesignRequest) -> np.ndarray:
        from molediff.domains.proteins.refine import refine_backbone
        from molediff.domains.proteins.symmetry import symmetrize_design

        out = refine_backbone(bb, plan.chain, plan.motif if plan.motif.any() else None)
        if req.symmetry is not None and plan.copies > 1:
            out = symmetrize_design(out, req.symmetry)
        if plan.motif.any():
            out[plan.motif] = bb[plan.motif]  # exactly the sampled (pinned) motif
        return out

    def _metrics(self, bb: np.ndarray, plan: DesignPlan, req: DesignRequest) -> dict[str, float]:
        from molediff.domains.proteins.metrics import design_metrics

        known = plan.known if plan.motif.any() else None
        return design_metrics(bb, plan.chain, motif=plan.motif if known is not None else None,
                              known=known, symmetry=req.symmetry if plan.copies > 1 else None,
                              reference=plan.start)

    # ---------------------------------------------------- metrics and export
    def metrics(self, samples: DesignSet) -> dict[str, float]:
        """Set-level metrics (:func:`~molediff.domains.proteins.metrics.summary_metrics`)
        and the generation counters."""
        from molediff.domains.proteins.metrics import summary_metrics

        out = summary_metrics([d.metrics for d in samples.designs])
        out.update({k: float(v) for k, v in samples.counts.items()})
        return out

    def export(self, samples: DesignSet, out_dir: str | Path) -> list[Path]:
        """``design_XXXX.pdb`` per design, ``designs.csv`` (per-design metrics) and
        ``metrics.png`` (their distributions), written atomically."""
        from molediff.domains.proteins.report import write_report

        if not samples.designs:
            raise InputError("no design passed the backbone check; nothing written "
                             f"({samples.counts})")
        return write_report(samples, Path(out_dir))


def _record_prediction(frames: dict[int, Tensor], info: dict[str, Any]) -> None:
    frames[info["step"]] = info["denoised"].detach().cpu()


def _raw_metrics(bb: np.ndarray, chain: np.ndarray) -> dict[str, float]:
    """CA–CA deviation, CA clashes and bond deviation of the sample before refinement."""
    from molediff.domains.proteins.geometry import (
        CA_CA_IDEAL,
        IDEAL_BONDS,
        bond_lengths,
        ca_ca_distances,
        ca_clashes,
    )

    if not np.isfinite(bb).all():
        return {}
    d = ca_ca_distances(bb, chain)
    bonds = [np.abs(v - IDEAL_BONDS[k]) for k, v in bond_lengths(bb, chain).items() if v.size]
    return {"raw_ca_ca_deviation": float(np.abs(d - CA_CA_IDEAL).mean()) if d.size else 0.0,
            "raw_ca_clashes": float(ca_clashes(bb, chain)),
            "raw_bond_deviation": float(np.mean(np.concatenate(bonds)))}


def _symmetry_layout(plans: list[DesignPlan], sym: tuple[str, int]) -> SymmetryLayout:
    rots = rotations(sym, torch.float64)
    g = len(rots)
    rot, unit, copies = [], [], []
    offset = 0
    for p in plans:
        n = p.length
        if p.copies > 1:
            m = n // g
            k = torch.arange(n) // m
            rot.append(rots[k])
            unit.append(offset + torch.arange(n) % m)
            copies.append(torch.full((m,), float(g)))
            offset += m
        else:
            rot.append(torch.eye(3, dtype=torch.float64).expand(n, 3, 3))
            unit.append(offset + torch.arange(n))
            copies.append(torch.ones(n))
            offset += n
    return SymmetryLayout(torch.cat(rot), torch.cat(unit), offset, torch.cat(copies))


__all__ = ["ProteinDomain", "Design", "DesignSet", "SIGMA_DATA"]
