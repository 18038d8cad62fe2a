"""Helpers shared by the conformer benchmark suites (not a suite: the runner skips ``_*``).

Each helper runs one method on a list of query molecules (explicit H, stereo tags, no
conformers) and returns the generated molecules (``None`` for a failure) plus the wall
time in seconds, so that every suite times and scores methods the same way.
"""

from __future__ import annotations

import time
from collections.abc import Sequence

from rdkit import Chem

from molediff.domains.chem.stereo import check_stereo
from molediff.domains.conformers.baselines import etkdg_conformers
from molediff.domains.conformers.generate import ConformerResult, mmff_relax
from molediff.inference import Model


def stereo_ok(refs: Sequence[Chem.Mol], gens: Sequence[Chem.Mol | None]) -> float:
    """Share of generated conformers whose R/S and E/Z, perceived from 3D, match the input."""
    ok = total = 0
    for ref, gen in zip(refs, gens, strict=True):
        if gen is None:
            continue
        for conf in gen.GetConformers():
            total += 1
            ok += int(check_stereo(ref, gen, conf.GetId()).ok)
    return ok / total if total else float("nan")


def run_ours(
    model: Model, queries: Sequence[Chem.Mol], k: int, seed: int = 0,
    batch_size: int = 100,
) -> tuple[list[Chem.Mol | None], list[ConformerResult], float]:
    """Our model (``molediff.inference.load_model``), ``k`` conformers of every query, all
    molecules batched together: (molecules, raw results, seconds)."""
    t0 = time.perf_counter()
    results = model.generate(k * len(queries), condition=list(queries), seed=seed,
                             batch_size=batch_size)
    seconds = time.perf_counter() - t0
    return [r.mol if r.ok else None for r in results], results, seconds


def run_routed(
    queries: Sequence[Chem.Mol], k: int, seed: int = 0, batch_size: int = 100,
) -> tuple[list[Chem.Mol | None], list[ConformerResult], float,
           dict[str, tuple[Model, list[int]]]]:
    """The bundled models as ``molediff conformers --model auto`` uses them (each query to
    the model :func:`molediff.domains.conformers.routing.route` picks): (molecules, raw
    results in query order, seconds, per model name: the model and its query indices)."""
    from molediff.domains.conformers.routing import BUNDLED, generate_by_model, route
    from molediff.inference import load_model

    t0 = time.perf_counter()
    used = {name: (load_model(BUNDLED[name]), idx) for name, idx in route(queries).items()}
    results = generate_by_model(list(used.values()), queries, k, seed=seed,
                                batch_size=batch_size)
    seconds = time.perf_counter() - t0
    return [r.mol if r.ok else None for r in results], results, seconds, used


def run_etkdg_starts(
    queries: Sequence[Chem.Mol], k: int, seed: int = 0
) -> tuple[list[Chem.Mol | None], float]:
    """The ETKDGv3 embeddings ETKDG-seeded sampling starts from (draw ``d`` of a molecule
    seeded as its noise, :func:`molediff.domains.conformers.generate.etkdg_seed`), the
    first ``k`` that embed, untouched: what the network adds to its starting points is
    the difference to ours. Returns (molecules, seconds)."""
    from molediff.core.space import sample_seed
    from molediff.domains.conformers.generate import (
        _graph_key,
        _positions_to_conformer,
        etkdg_seed,
        prepare_input,
    )

    gens: list[Chem.Mol | None] = []
    t0 = time.perf_counter()
    for q in queries:
        mol = prepare_input(q)
        key = _graph_key(mol)
        out = Chem.Mol(mol)
        out.RemoveAllConformers()
        for d in range(2 * k):
            if out.GetNumConformers() == k:
                break
            pos = etkdg_seed(mol, sample_seed(seed, key, d))
            if pos is not None:
                out.AddConformer(_positions_to_conformer(pos), assignId=True)
        gens.append(out if out.GetNumConformers() else None)
    return gens, time.perf_counter() - t0


def relax_keeping_stereo(
    mols: Sequence[Chem.Mol | None], queries: Sequence[Chem.Mol]
) -> tuple[list[Chem.Mol | None], int, float]:
    """MMFF94-relax every conformer; drop those whose stereo the relaxation changed (as
    ``model.generate(..., relax=True)`` does).  Returns (molecules, dropped, seconds)."""
    relaxed: list[Chem.Mol | None] = []
    dropped = 0
    t0 = time.perf_counter()
    for mol, query in zip(mols, queries, strict=True):
        if mol is None:
            relaxed.append(None)
            continue
        work = Chem.Mol(mol)
        mmff_relax(work)
        keep = Chem.Mol(work)
        keep.RemoveAllConformers()
        for conf in work.GetConformers():
            if check_stereo(query, work, conf.GetId()).ok:
                keep.AddConformer(Chem.Conformer(conf), assignId=True)
            else:
                dropped += 1
        relaxed.append(keep if keep.GetNumConformers() else None)
    return relaxed, dropped, time.perf_counter() - t0


def run_etkdg(
    queries: Sequence[Chem.Mol], k: int, mmff: bool, seed: int = 0
) -> tuple[list[Chem.Mol | None], float]:
    """ETKDGv3 (optionally with its MMFF pass) on one thread; molecule ``i`` gets seed
    ``seed + i``.  Returns (molecules, seconds)."""
    gens: list[Chem.Mol | None] = []
    t0 = time.perf_counter()
    for i, q in enumerate(queries):
        try:
            out = etkdg_conformers(q, k, seed=seed + i, mmff=mmff, num_threads=1)
        except (ValueError, RuntimeError):
            out = None
        gens.append(out if out is not None and out.GetNumConformers() else None)
    return gens, time.perf_counter() - t0
