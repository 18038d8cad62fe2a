"""Conformer-ensemble metrics: symmetry-aware heavy-atom RMSD, COV / AMR, ground-state recovery.

All RMSDs are in Å, computed on hydrogen-stripped molecules after optimal rigid alignment
over all graph automorphisms (RDKit ``rdMolAlign.GetBestRMS``), as in GeoMol and
Torsional Diffusion (Jing et al. 2022).

COV / AMR follow Torsional Diffusion's ``evaluate_confs``: with an RMSD matrix ``D`` of
shape ``[L reference, K generated]``,

- COV-R = fraction of references whose closest generated conformer has ``D < delta``;
- AMR-R = mean over references of ``min_k D``;
- COV-P = fraction of generated conformers whose closest reference has ``D < delta``;
- AMR-P = mean over generated conformers of ``min_l D``.

Thresholds ``delta``: 0.5 Å for QM9, 0.75 Å for GEOM-Drugs (1.25 Å in some papers).
A molecule with no generated conformer counts as COV = 0 and is left out of AMR (its AMR is
NaN; the number of such failures is reported).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
from rdkit import Chem
from rdkit.Chem import rdMolAlign

QM9_THRESHOLD = 0.5
DRUGS_THRESHOLD = 0.75
DRUGS_THRESHOLD_LOOSE = 1.25


def _heavy(mol: Chem.Mol) -> Chem.Mol:
    # sanitize=False: generated molecules may have odd valences we still want to score;
    # the graph (not chemistry perception) is all GetBestRMS needs.
    return Chem.RemoveHs(mol, sanitize=False)


def _conf_ids(mol: Chem.Mol) -> list[int]:
    return [c.GetId() for c in mol.GetConformers()]


def best_rmsd(
    probe: Chem.Mol,
    ref: Chem.Mol,
    probe_conf: int = -1,
    ref_conf: int = -1,
    heavy_atoms_only: bool = True,
    max_matches: int = 10_000,
) -> float:
    """Symmetry-aware RMSD (Å) between one probe and one reference conformer after alignment.

    Both molecules must have the same graph (atom order may differ).  Neither input is
    modified.
    """
    p = _heavy(probe) if heavy_atoms_only else Chem.Mol(probe)
    r = _heavy(ref) if heavy_atoms_only else ref
    return float(rdMolAlign.GetBestRMS(p, r, probe_conf, ref_conf, maxMatches=max_matches))


def rmsd_matrix(
    refs: Chem.Mol | Sequence[Chem.Mol],
    gens: Chem.Mol | Sequence[Chem.Mol],
    heavy_atoms_only: bool = True,
    max_matches: int = 10_000,
) -> np.ndarray:
    """RMSD matrix ``[L, K]`` (Å) between every reference and every generated conformer.

    Args:
        refs: one molecule with L conformers, or a list of molecules (every conformer of
            every molecule is used, in order).
        gens: same, K conformers in total.
    """
    ref_list = _expand(refs, heavy_atoms_only)
    gen_list = _expand(gens, heavy_atoms_only)
    out = np.full((len(ref_list), len(gen_list)), np.nan, dtype=np.float64)
    for j, (gm, gid) in enumerate(gen_list):
        for i, (rm, rid) in enumerate(ref_list):
            # GetBestRMS moves the probe conformer; align a private copy each time.
            probe = Chem.Mol(gm, confId=gid)
            out[i, j] = rdMolAlign.GetBestRMS(probe, rm, -1, rid, maxMatches=max_matches)
    return out


def _expand(mols: Chem.Mol | Sequence[Chem.Mol], heavy: bool) -> list[tuple[Chem.Mol, int]]:
    if isinstance(mols, Chem.Mol):
        mols = [mols]
    out = []
    for m in mols:
        mh = _heavy(m) if heavy else m
        out += [(mh, cid) for cid in _conf_ids(mh)]
    return out


@dataclass
class CoverageResult:
    """Per-molecule COV/AMR values at one threshold (fractions in [0, 1]; AMR in Å)."""

    cov_r: float
    amr_r: float
    cov_p: float
    amr_p: float
    num_refs: int
    num_gens: int

    @property
    def failed(self) -> bool:
        return self.num_gens == 0


def coverage_from_matrix(rmsd: np.ndarray, threshold: float = QM9_THRESHOLD) -> CoverageResult:
    """COV-R / AMR-R / COV-P / AMR-P of one molecule from its ``[L, K]`` RMSD matrix."""
    rmsd = np.asarray(rmsd, dtype=np.float64)
    n_ref, n_gen = rmsd.shape
    if n_gen == 0 or n_ref == 0:
        return CoverageResult(0.0, math.nan, 0.0, math.nan, n_ref, n_gen)
    min_r = rmsd.min(axis=1)
    min_p = rmsd.min(axis=0)
    return CoverageResult(
        cov_r=float(np.mean(min_r < threshold)),
        amr_r=float(np.mean(min_r)),
        cov_p=float(np.mean(min_p < threshold)),
        amr_p=float(np.mean(min_p)),
        num_refs=n_ref,
        num_gens=n_gen,
    )


@dataclass
class EnsembleSummary:
    """COV / AMR aggregated over molecules (mean and median), plus failure count."""

    threshold: float
    num_molecules: int
    num_failures: int
    cov_r_mean: float
    cov_r_median: float
    amr_r_mean: float
    amr_r_median: float
    cov_p_mean: float
    cov_p_median: float
    amr_p_mean: float
    amr_p_median: float
    per_molecule: dict[str, CoverageResult] = field(default_factory=dict, repr=False)

    def as_dict(self) -> dict[str, float]:
        return {k: v for k, v in self.__dict__.items() if k != "per_molecule"}


def _mean_median(values: Sequence[float]) -> tuple[float, float]:
    arr = np.asarray([v for v in values if not math.isnan(v)], dtype=np.float64)
    if arr.size == 0:
        return math.nan, math.nan
    return float(arr.mean()), float(np.median(arr))


def summarize(results: Mapping[str, CoverageResult], threshold: float) -> EnsembleSummary:
    """Mean / median over molecules; failures enter COV as 0 and are left out of AMR."""
    vals = list(results.values())
    stats = {}
    for name in ("cov_r", "amr_r", "cov_p", "amr_p"):
        stats[name] = _mean_median([getattr(r, name) for r in vals])
    return EnsembleSummary(
        threshold=threshold,
        num_molecules=len(vals),
        num_failures=sum(r.failed for r in vals),
        cov_r_mean=stats["cov_r"][0], cov_r_median=stats["cov_r"][1],
        amr_r_mean=stats["amr_r"][0], amr_r_median=stats["amr_r"][1],
        cov_p_mean=stats["cov_p"][0], cov_p_median=stats["cov_p"][1],
        amr_p_mean=stats["amr_p"][0], amr_p_median=stats["amr_p"][1],
        per_molecule=dict(results),
    )


def ensemble_metrics(
    references: Mapping[str, Chem.Mol | Sequence[Chem.Mol]],
    generated: Mapping[str, Chem.Mol | Sequence[Chem.Mol] | None],
    threshold: float = QM9_THRESHOLD,
    heavy_atoms_only: bool = True,
) -> EnsembleSummary:
    """Torsional-Diffusion COV/AMR over a set of molecules.

    Args:
        references: key (e.g. SMILES) -> reference conformers (one mol with L conformers
            or a list of mols).
        generated: key -> generated conformers; a missing key, ``None`` or zero
            conformers is a failure (COV 0).
        threshold: ``delta`` in Å.
    """
    results: dict[str, CoverageResult] = {}
    for key, refs in references.items():
        gens = generated.get(key)
        if gens is None or _num_confs(gens) == 0:
            results[key] = coverage_from_matrix(np.zeros((_num_confs(refs), 0)), threshold)
            continue
        d = rmsd_matrix(refs, gens, heavy_atoms_only=heavy_atoms_only)
        results[key] = coverage_from_matrix(d, threshold)
    return summarize(results, threshold)


def _num_confs(mols: Chem.Mol | Sequence[Chem.Mol]) -> int:
    if isinstance(mols, Chem.Mol):
        return mols.GetNumConformers()
    return sum(m.GetNumConformers() for m in mols)


@dataclass
class GroundStateRecovery:
    """Best-of-K RMSD (Å) to one reference geometry per molecule.

    ``best_rmsd`` is ``inf`` for a molecule with no generated conformer, so it never
    counts as recovered.
    """

    threshold: float
    best_rmsd: np.ndarray  # [M]

    @property
    def fraction_below(self) -> float:
        return float(np.mean(self.best_rmsd < self.threshold)) if self.best_rmsd.size else math.nan

    @property
    def mean_best_rmsd(self) -> float:
        finite = self.best_rmsd[np.isfinite(self.best_rmsd)]
        return float(finite.mean()) if finite.size else math.nan

    @property
    def median_best_rmsd(self) -> float:
        return float(np.median(self.best_rmsd)) if self.best_rmsd.size else math.nan

    @property
    def num_failures(self) -> int:
        return int(np.sum(~np.isfinite(self.best_rmsd)))


def best_of_k_rmsd(reference: Chem.Mol, generated: Chem.Mol | None, ref_conf: int = -1) -> float:
    """Lowest symmetry-aware heavy-atom RMSD (Å) of any generated conformer to the reference.

    Returns ``inf`` if there is no generated conformer.
    """
    if generated is None or generated.GetNumConformers() == 0:
        return math.inf
    ref = Chem.Mol(reference, confId=ref_conf) if ref_conf != -1 else reference
    return float(rmsd_matrix(ref, generated).min())


def ground_state_recovery(
    references: Sequence[Chem.Mol],
    generated: Sequence[Chem.Mol | None],
    threshold: float = QM9_THRESHOLD,
) -> GroundStateRecovery:
    """Best-of-K RMSD to one reference geometry (e.g. the QM9 DFT minimum) per molecule."""
    if len(references) != len(generated):
        raise ValueError(f"{len(references)} references but {len(generated)} generated entries")
    best = np.array(
        [best_of_k_rmsd(r, g) for r, g in zip(references, generated, strict=True)],
        dtype=np.float64,
    )
    return GroundStateRecovery(threshold=threshold, best_rmsd=best)


def ensemble_diversity(mol: Chem.Mol | None) -> float:
    """Mean pairwise symmetry-aware heavy-atom RMSD (Å) between a molecule's conformers.

    The spread of a generated ensemble: a sampler that returns K copies of one geometry
    scores 0.  NaN for ``None`` or fewer than two conformers.
    """
    if mol is None or mol.GetNumConformers() < 2:
        return math.nan
    d = rmsd_matrix(mol, mol)
    return float(d[np.triu_indices_from(d, k=1)].mean())
