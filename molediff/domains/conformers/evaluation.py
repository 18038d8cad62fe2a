"""Recall of held-out reference geometries by a conformer model: the numbers
``molediff evaluate`` reports for a conformer checkpoint (``reference_*`` keys) and the
benchmark suites build on.

Protocol (Torsional Diffusion's, with the QM9 DFT minimum as the single reference of each
molecule): the first ``n`` molecules of a fixed permutation (seed 0) of a QM9 split, the
model sees the molecular graph with its stereo tags but no coordinates and returns K
conformers through the model's own generation path (stereo checked, mirrored or resampled);
RMSDs are symmetry-aware, heavy-atom, after alignment (Å).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
from rdkit import Chem

from molediff.domains.base import Generator
from molediff.domains.conformers.metrics import (
    QM9_THRESHOLD,
    GroundStateRecovery,
    ensemble_diversity,
    ensemble_metrics,
)


def reference_molecules(n: int, split: str = "test", seed: int = 0) -> list[Chem.Mol]:
    """The first ``n`` molecules (DFT geometry, explicit H) of a fixed permutation of a QM9
    split (``train`` / ``valid`` / ``test``, :mod:`molediff.domains.chem.qm9`)."""
    from molediff.domains.conformers.data import QM9ConformerDataset

    ds = QM9ConformerDataset(split)
    order = np.random.default_rng(seed).permutation(len(ds))[:n]
    return [ds.mol(int(k)) for k in order]


def queries_of(refs: Sequence[Chem.Mol]) -> list[Chem.Mol]:
    """Conformer-free copies of the references: what a method may see."""
    out = []
    for ref in refs:
        q = Chem.Mol(ref)
        q.RemoveAllConformers()
        out.append(q)
    return out


def num_conformers(gens: Sequence[Chem.Mol | None]) -> int:
    """Conformers in a list of generated molecules (``None``: a failure, none)."""
    return sum(0 if g is None else g.GetNumConformers() for g in gens)


def recall_metrics(
    refs: Sequence[Chem.Mol],
    gens: Sequence[Chem.Mol | None],
    threshold: float = QM9_THRESHOLD,
    posebusters: bool = True,
) -> dict[str, float]:
    """Scores of generated ensembles against one reference geometry per molecule
    (each reference must have exactly one conformer).

    Returns:
        ``cov_r`` / ``amr_r`` / ``cov_p`` / ``amr_p`` (means over molecules; a molecule
        without conformers counts as COV 0 and is left out of AMR), ``mean_best_rmsd`` /
        ``median_best_rmsd`` / ``fraction_below`` (ground-state recovery: best of K),
        ``diversity`` (mean pairwise RMSD of each ensemble, averaged), ``failures``,
        ``conformers``, and ``posebusters_all_pass`` (molecule checks without the energy
        check) when ``posebusters``.
    """
    if any(ref.GetNumConformers() != 1 for ref in refs):
        raise ValueError("recall_metrics needs exactly one reference conformer per molecule")
    keys = [str(i) for i in range(len(refs))]
    ens = ensemble_metrics(dict(zip(keys, refs, strict=True)),
                           dict(zip(keys, gens, strict=True)), threshold=threshold)
    # with one reference, a molecule's AMR-R is its best-of-K RMSD: no second RMSD pass
    gs = GroundStateRecovery(threshold, np.array(
        [math.inf if r.failed else r.amr_r for r in ens.per_molecule.values()]))
    spread = np.array([ensemble_diversity(g) for g in gens], dtype=np.float64)
    out = {
        "threshold": float(threshold),
        "num_molecules": float(len(refs)),
        "cov_r": ens.cov_r_mean, "amr_r": ens.amr_r_mean,
        "cov_p": ens.cov_p_mean, "amr_p": ens.amr_p_mean,
        "mean_best_rmsd": gs.mean_best_rmsd, "median_best_rmsd": gs.median_best_rmsd,
        "fraction_below": gs.fraction_below,
        "diversity": float(np.nanmean(spread)) if np.isfinite(spread).any() else float("nan"),
        "failures": float(ens.num_failures),
        "conformers": float(num_conformers(gens)),
    }
    if posebusters:
        from molediff.domains.conformers.plausibility import pass_rates, posebusters_checks

        out["posebusters_all_pass"] = pass_rates(posebusters_checks(gens, energy=False))["all_pass"]
    return out


def evaluate_model(
    model: Generator,
    *,
    num_references: int = 50,
    k: int = 10,
    split: str = "test",
    threshold: float = QM9_THRESHOLD,
    seed: int = 0,
    posebusters: bool = True,
    **options: Any,
) -> dict[str, float]:
    """Generate K conformers for ``num_references`` QM9 molecules of ``split`` with a loaded
    conformer model (``molediff.inference.load_model``; its sampler overrides apply) and
    score them (:func:`recall_metrics`, plus the stereo counters ``sampled`` /
    ``stereo_rejected`` / ``mirrored`` / ``dropped``). ``options`` go to the domain's
    generation (``batch_size``, ``max_rounds``, ...).
    """
    from molediff.domains.conformers.generate import summarize

    refs = reference_molecules(num_references, split)
    options.setdefault("progress", True)  # a minute or more: show it (quiet when piped)
    results = model.generate(k * len(refs), condition=queries_of(refs), seed=seed, **options)
    out = recall_metrics(refs, [r.mol if r.ok else None for r in results], threshold, posebusters)
    counts = summarize(results)
    out |= {key: float(counts[key]) for key in ("sampled", "stereo_rejected", "mirrored", "dropped")}
    out["k"] = float(k)
    return out
