"""Conformer generation API: molecules in, stereo-checked 3D conformers (Å) out.

:func:`generate_conformers` is the conformer domain's generation path
(:meth:`ConformerDomain.generate`), so ``molediff conformers``, ``molediff sample`` and
``evaluate`` on a conformer checkpoint, the scripts and the benchmarks all reach it::

    from molediff.inference import load_model

    model = load_model(BUNDLED_CHECKPOINT)          # EMA weights, the checkpoint's sampler
    results = model.generate(10, condition="CC(=O)Oc1ccccc1C(=O)O", seed=0)
    results[0].mol                                  # RDKit Mol, explicit H, 10 conformers

Conformers of all molecules are sampled together in batches of ``batch_size`` graphs,
molecules of similar size together (each draw has its own noise stream, so the batching
changes no draw beyond floating-point rounding).
Stereochemistry: the EGNN is E(3)-equivariant including reflections, so it cannot
prefer one enantiomer. Every sample's stereocentres (R/S) and double bonds (E/Z) are
perceived from 3D with RDKit and compared with the input's
(:func:`molediff.domains.chem.stereo.check_stereo`). A sample whose mirror image matches
(every centre inverted, E/Z right: E/Z survives reflection) is replaced by that mirror
image at once; any other mismatch is resampled, for ``max_rounds`` rounds, after which the
slot is dropped. Because the model's distribution is reflection-symmetric, "accept x if
it matches, its mirror image if that matches" draws from exactly the distribution that
plain rejection would, with half the rejections. The counts are reported per molecule and
per conformer.

Geometry: every draw that survives the stereo decision (accepted or mirrored) must also
pass the geometry gate (:func:`molediff.domains.chem.geometry.check_geometry`: bond
lengths, bond angles, clashes, planarity of aromatic rings and amides, ring piercing,
against reference values fitted on QM9 and CCD training geometries); a draw that fails
is rejected and resampled like a stereo mismatch, and counted (``geometry_rejected`` and
one ``gate_<kind>`` counter per failing kind). Relaxed conformers are checked again.
Slots still empty after ``max_rounds`` rounds are dropped; a molecule left without any
conformer fails with an error that names the failing checks. Molecules with elements
the model was never trained on (``elements``) are refused before any sampling.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

import torch
from rdkit import Chem, rdBase
from rdkit.Chem import AllChem, rdMolAlign
from torch_geometric.data import Batch, Data

from molediff.core.space import GraphSpace, sample_seed
from molediff.domains.base import Draw
from molediff.domains.chem.featurize import (
    DEFAULT_MAX_HEAVY_ATOMS,
    check_elements,
    mol_to_data,
    smiles_to_mol,
)
from molediff.domains.chem.geometry import DEFAULT_GATE, GATE_KINDS, GeometryGate, GeometryPlan
from molediff.domains.chem.inputs import MoleculeInput, largest_fragment, unspecified_stereo
from molediff.domains.chem.stereo import check_stereo
from molediff.domains.conformers.stereo_guidance import (
    StereoTargets,
    batch_targets,
    stereo_targets,
)
from molediff.domains.conformers.stereo_guidance import stereo_guidance as chirality_guidance

#: the checkpoint shipped with the package
BUNDLED_CHECKPOINT = Path(__file__).resolve().parents[2] / "checkpoints" / "conformers_qm9.pt"
#: the drug-like model shipped with the package (ETKDG-seeded; H C N O F P S Cl Br I)
BUNDLED_DRUGS_CHECKPOINT = BUNDLED_CHECKPOINT.with_name("conformers_drugs.pt")

MolInput = str | Chem.Mol | MoleculeInput


@dataclass
class ConformerResult:
    """Conformers of one input molecule.

    Attributes:
        smiles: the input SMILES (or the SMILES of an input molecule).
        model: what produced the conformers (checkpoint file name and start), written
            to the SDF as ``model``; ``None``: not recorded.
        name: the input's name (``.smi`` name column, CSV name, SDF title), the SDF record
            name of its conformers; ``None``: the SMILES is used.
        notes: what was done to the input on the way (a salt's counter-ions dropped,
            unspecified stereo left to the model), reported per molecule.
        mol: molecule with explicit H and one conformer per returned sample (Å); ``None``
            when the input failed.
        error: one-line reason the input failed (``None`` on success).
        conformer_props: per conformer: ``index``, ``stereo`` (``"sampled"`` or
            ``"mirrored"``), ``round``, ``energy`` (MMFF94 kcal/mol when relaxed).
        stats: ``requested``, ``sampled`` (network samples drawn), ``mirrored`` (samples
            whose mirror image was accepted), ``stereo_rejected`` (samples rejected and
            resampled: neither they nor their mirror image match), ``geometry_rejected``
            (samples with the right stereo rejected by the geometry gate and resampled,
            plus relaxed conformers that fail it), ``gate_bond``, ``gate_angle``,
            ``gate_clash``, ``gate_planarity``, ``gate_ring_piercing`` (of those, how
            many failed each kind; a sample can fail several), ``gate_mmff`` (failed the
            gate's MMFF94 local-minimum check), ``seed_failed`` (ETKDG-seeded draws for
            which distance geometry found no starting embedding; they reach no network
            and count in ``sampled``), ``dropped`` (slots left empty), ``pruned``
            (removed by RMSD pruning), ``relax_failed``. Without relaxation ``sampled =
            conformers + stereo_rejected + geometry_rejected + seed_failed`` before
            pruning.
    """

    smiles: str
    mol: Chem.Mol | None = None
    error: str | None = None
    conformer_props: list[dict[str, Any]] = field(default_factory=list)
    stats: dict[str, int] = field(default_factory=dict)
    name: str | None = None
    notes: list[str] = field(default_factory=list)
    model: str | None = None

    @property
    def ok(self) -> bool:
        return self.error is None and self.mol is not None and self.mol.GetNumConformers() > 0

    @property
    def num_conformers(self) -> int:
        return 0 if self.mol is None else self.mol.GetNumConformers()

    def records(self) -> list[tuple[Chem.Mol, dict[str, Any]]]:
        """One ``(single-conformer molecule, SDF properties)`` pair per conformer."""
        if self.mol is None:
            return []
        out = []
        for conf, props in zip(self.mol.GetConformers(), self.conformer_props, strict=True):
            m = Chem.Mol(self.mol, confId=conf.GetId())
            m.SetProp("_Name", self.name or self.smiles)  # RDKit's convention: the molecule's name
            p: dict[str, Any] = {"source_smiles": self.smiles, "conformer": props["index"]}
            if self.model:
                p["model"] = self.model
            if self.notes:
                p["notes"] = "; ".join(self.notes)
            p |= {k: v for k, v in props.items() if v is not None}
            p |= {f"mol_{k}": v for k, v in self.stats.items()}
            out.append((m, p))
        return out


def prepare_input(item: MolInput, max_heavy_atoms: int = DEFAULT_MAX_HEAVY_ATOMS,
                  notes: list[str] | None = None) -> Chem.Mol:
    """SMILES, RDKit molecule or :class:`~molediff.domains.chem.inputs.MoleculeInput` ->
    sanitised molecule with explicit H and no conformers.

    Salts and mixtures keep their largest organic fragment (the model places one connected
    molecule; counter-ions carry no conformational information); what was dropped is
    appended to ``notes``.

    Raises:
        ValueError: invalid SMILES, unsupported element, too many heavy atoms (one
            clear message naming the cause).
    """
    parsed, text = _read(item)
    mol, note = largest_fragment(parsed)
    if note and notes is not None:
        notes.append(note)
    if text is not None:
        # from the text as given (not a re-written SMILES) unless fragments were dropped:
        # the atom order, and with it the noise seeds, follow the user's SMILES
        return smiles_to_mol(Chem.MolToSmiles(mol) if note else text, max_heavy_atoms)
    check_elements(mol)
    if mol.GetNumHeavyAtoms() > max_heavy_atoms:
        raise ValueError(
            f"molecule has {mol.GetNumHeavyAtoms()} heavy atoms, more than the limit "
            f"max_heavy_atoms={max_heavy_atoms}"
        )
    if mol.GetNumConformers() and mol.GetConformer().Is3D():
        Chem.AssignStereochemistryFrom3D(mol)
    mol = Chem.AddHs(mol, addCoords=False)
    mol.RemoveAllConformers()
    return mol


def _read(item: MolInput) -> tuple[Chem.Mol, str | None]:
    """(parsed molecule, the SMILES text it was parsed from or ``None`` for an RDKit
    molecule); nothing beyond parsing is checked.

    Raises:
        ValueError: invalid SMILES, unreadable file record, no molecule.
    """
    if isinstance(item, MoleculeInput):
        if item.mol is None and item.error:
            raise ValueError(f"{item.source}: {item.error}")
        item = item.mol if item.mol is not None else item.smiles
    if isinstance(item, str):
        text = item.strip()
        parsed = Chem.MolFromSmiles(text) if text else None
        if parsed is None:
            raise ValueError(f"invalid SMILES: {text!r}")
        return parsed, text
    if item is None:
        raise ValueError("unreadable molecule")
    return Chem.Mol(item), None


def read_error(item: MolInput) -> str | None:
    """Why ``item`` cannot be read as a molecule at all (invalid SMILES, unreadable file
    record), as :func:`prepare_input` words it; ``None`` when it parses. Elements and size
    are not looked at: those depend on the model that would serve the molecule."""
    quiet = rdBase.BlockLogs()  # the message returned replaces RDKit's parser lines
    try:
        _read(item)
    except ValueError as exc:
        return str(exc)
    finally:
        del quiet
    return None


def failed_result(item: MolInput, error: str) -> ConformerResult:
    """The result of an input that failed before sampling: labelled like every other
    result (SMILES shown in messages, name), no conformers, ``error`` set."""
    label, name = _label_of(item)
    return ConformerResult(smiles=label, name=name, error=error)


def num_stereo_elements(mol: Chem.Mol) -> int:
    """Specified stereocentres plus stereo double bonds of ``mol`` (what the check compares)."""
    from rdkit.Chem import rdCIPLabeler

    ref = Chem.Mol(mol)
    Chem.AssignStereochemistry(ref, cleanIt=True, force=True)
    rdCIPLabeler.AssignCIPLabels(ref)
    return sum(a.HasProp("_CIPCode") for a in ref.GetAtoms()) + sum(
        b.HasProp("_CIPCode") for b in ref.GetBonds())


def _positions_to_conformer(pos: torch.Tensor) -> Chem.Conformer:
    conf = Chem.Conformer(pos.shape[0])
    for i, p in enumerate(pos.double().tolist()):
        conf.SetAtomPosition(i, p)
    conf.Set3D(True)
    return conf


def _with_positions(mol: Chem.Mol, pos: torch.Tensor) -> Chem.Mol:
    out = Chem.Mol(mol)
    out.RemoveAllConformers()
    out.AddConformer(_positions_to_conformer(pos), assignId=True)
    return out


def prune_by_rmsd(mol: Chem.Mol, threshold: float, order: Sequence[int] | None = None) -> list[int]:
    """Greedy RMSD pruning: walk conformers in ``order`` and keep one unless it lies within
    ``threshold`` Å (heavy-atom RMSD after alignment) of an already kept one.

    Returns the kept conformer ids (in ``order``).
    """
    ids = list(order) if order is not None else [c.GetId() for c in mol.GetConformers()]
    if threshold <= 0 or len(ids) < 2:
        return ids
    heavy = Chem.RemoveHs(mol, sanitize=False)
    kept: list[int] = []
    for cid in ids:
        if all(rdMolAlign.AlignMol(Chem.Mol(heavy), heavy, prbCid=cid, refCid=k) >= threshold
               for k in kept):
            kept.append(cid)
    return kept


def mmff_relax(mol: Chem.Mol, max_iters: int = 2000) -> list[float | None]:
    """MMFF94 relaxation of every conformer's coordinates in place (the graph and its
    aromaticity flags are left untouched); energies in kcal/mol (``None`` per conformer
    if MMFF has no parameters for the molecule)."""
    from rdkit.Chem import rdForceFieldHelpers

    work = Chem.Mol(mol)  # MMFF typing rewrites aromaticity flags: relax a scratch copy
    if not rdForceFieldHelpers.MMFFHasAllMoleculeParams(work):
        return [None] * mol.GetNumConformers()
    res = AllChem.MMFFOptimizeMoleculeConfs(work, numThreads=1, maxIters=max_iters)
    for c_out, c_work in zip(mol.GetConformers(), work.GetConformers(), strict=True):
        c_out.SetPositions(c_work.GetPositions())
    return [float(e) if math.isfinite(e) else None for _, e in res]


def _graph_key(mol: Chem.Mol) -> str:
    """What a molecule's noise seeds derive from: its SMILES with stereo and explicit H,
    in input atom order (so the same molecule gets the same conformers in any batch)."""
    return Chem.MolToSmiles(mol, canonical=False)


def etkdg_seed(mol: Chem.Mol, seed: int) -> torch.Tensor | None:
    """One ETKDGv3 embedding of ``mol`` (``[n, 3]`` Å, input atom order), the starting
    point of a seeded draw; ``None`` when distance geometry finds no embedding (also
    with random starting coordinates)."""
    from rdkit.Chem import rdDistGeom

    work = Chem.Mol(mol)
    work.RemoveAllConformers()
    params = rdDistGeom.ETKDGv3()
    params.randomSeed = int(seed) & 0x7FFFFFFF
    params.numThreads = 1
    if rdDistGeom.EmbedMolecule(work, params) < 0:
        params.useRandomCoords = True
        if rdDistGeom.EmbedMolecule(work, params) < 0:
            return None
    return torch.from_numpy(work.GetConformer().GetPositions()).float()


@torch.no_grad()
def _sample_coordinates(draw: Draw, graphs: Sequence[Data], seeds: Sequence[int],
                        device: torch.device | str,
                        chirality: Sequence[StereoTargets | None] | None = None,
                        guidance: dict[str, float] | None = None,
                        starts: Sequence[torch.Tensor] | None = None,
                        start_sigma: float | None = None) -> list[torch.Tensor]:
    """One coordinate sample (``[n_i, 3]`` Å, CPU) per featurised graph, all in one batch;
    graph ``i``'s noise comes from its own stream ``seeds[i]``. ``chirality``: graph
    ``i``'s stereo elements, steered by :func:`~molediff.domains.conformers.stereo_guidance.stereo_guidance`
    (settings ``guidance``). ``starts``: per graph, coordinates (Å) the run starts from,
    noised to ``start_sigma`` Å (partial diffusion) instead of pure noise."""
    batch = Batch.from_data_list([g.clone() for g in graphs]).to(device)
    space = GraphSpace(batch.batch, int(batch.num_graphs), sample_seeds=list(seeds))
    kw: dict[str, Any] = {}
    if starts is not None:
        template = torch.cat(list(starts)).to(device)
        kw["start_sigma"] = start_sigma
    else:
        template = torch.zeros(batch.num_nodes, 3, device=device)
    if chirality is not None:
        targets = batch_targets(chirality, batch.ptr[:-1].tolist(), device)
        if len(targets):
            kw["transform"] = partial(chirality_guidance, targets=targets, **(guidance or {}))
    x = draw(template, batch, space, None, **kw).float().cpu()
    ptr = batch.ptr.cpu().tolist()
    return [x[ptr[i] : ptr[i + 1]] for i in range(len(graphs))]


def _chunks(jobs: list[Any], sizes: list[int], batch_size: int, max_pairs: int
            ) -> Iterator[list[Any]]:
    """Consecutive batches of ``jobs``: at most ``batch_size`` jobs and (beyond the first
    job) at most ``max_pairs`` atom pairs, ``sizes`` being each job's atom count."""
    chunk: list[Any] = []
    pairs = 0
    for job, n in zip(jobs, sizes, strict=True):
        if chunk and (len(chunk) == batch_size or pairs + n * n > max_pairs):
            yield chunk
            chunk, pairs = [], 0
        chunk.append(job)
        pairs += n * n
    if chunk:
        yield chunk


def generate_conformers(
    draw: Draw,
    inputs: Sequence[MolInput],
    num_confs: int | Sequence[int] = 10,
    *,
    seed: int = 0,
    batch_size: int = 64,
    max_rounds: int = 6,
    relax: bool = False,
    prune_rms: float = 0.0,
    max_heavy_atoms: int = DEFAULT_MAX_HEAVY_ATOMS,
    device: torch.device | str = "cpu",
    progress: Callable[..., None] | None = None,
    elements: Sequence[str] | None = None,
    gate: GeometryGate = DEFAULT_GATE,
    max_pairs: int = 32_768,
    time_limit: float | None = None,
    stereo_guidance: bool | dict[str, float] = True,
    start_sigma: float | None = None,
) -> list[ConformerResult]:
    """Stereo-checked conformers for every input (SMILES or RDKit molecule), in input order.

    Args:
        draw: one sampler run ``draw(template, cond, space, generator) -> x`` (what
            :class:`molediff.inference.Model` passes to the domain).
        inputs: SMILES strings or RDKit molecules (failures become results with ``error``
            set; the others are unaffected).
        num_confs: conformers requested per molecule (one count, or one per input).
        seed: base seed. The ``d``-th draw of a molecule uses its own noise stream seeded
            from ``(seed, molecule, d)``, so a molecule's conformers do not depend on the
            batch size, on the other molecules or on their order.
        batch_size: graphs (conformers) per network batch, mixed across molecules;
            each round's draws are batched in order of molecule size (atoms), so
            molecules of similar size share batches. Results come back in input order.
        max_pairs: a batch also stops before its atom pairs (``sum n_i^2``) exceed this,
            so a batch of large molecules stays small and progress (rate, ETA) arrives
            every few seconds; one graph is always taken.
        max_rounds: resampling rounds for stereo mismatches (1 = no resampling).
        relax: MMFF94-relax the accepted conformers (energies in kcal/mol).
        prune_rms: drop conformers within this heavy-atom RMSD (Å) of a kept one.
        max_heavy_atoms: size limit of inputs (heavy atoms).
        progress: ``progress(k, stage=None)``: ``k`` more draws finished, or a new stage.
        elements: element symbols the model was trained on; a molecule with any other
            element fails before sampling (``None``: whatever the featuriser accepts).
        gate: the geometry check every conformer must pass (reference values and
            tolerances; default: the table fitted on QM9 + CCD training geometries).
        time_limit: seconds per molecule: its preparation, its ETKDG embeddings, its
            share of each network batch (a batch's time is shared among its graphs in
            proportion to their atom pairs), its stereo and geometry checks, and its
            relaxation and pruning. A molecule past it gets no further draws and keeps
            what passed; any molecule that ends past it gets a note saying so, also one
            whose slots were all filled by the batch that crossed it (``None``: no
            limit).
        stereo_guidance: steer specified tetrahedral centres and double bonds toward
            their stereo during sampling (:mod:`~molediff.domains.conformers.stereo_guidance`; a dict:
            its settings), so fewer draws are mirrored or resampled; ``False``: off.
        start_sigma: ETKDG-seeded partial diffusion: every draw starts from its own
            ETKDGv3 embedding (seeded like its noise) noised to this level (Å) and takes
            only the sampler's steps below it; the torsions come from distance geometry,
            the model re-places the atoms locally. ``None``: every draw starts from pure
            noise. A draw without an embedding counts as ``seed_failed`` (resampled).
    """
    counts = [int(num_confs)] * len(inputs) if isinstance(num_confs, int) else list(num_confs)
    if len(counts) != len(inputs):
        raise ValueError(f"{len(counts)} conformer counts for {len(inputs)} inputs")
    if any(c < 1 for c in counts):
        raise ValueError(f"conformers per molecule must be >= 1, got {min(counts)}")
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    if max_rounds < 1:
        raise ValueError(f"max_rounds must be >= 1, got {max_rounds}")
    if prune_rms < 0 or not math.isfinite(prune_rms):
        raise ValueError(f"prune_rms must be a finite RMSD >= 0 Å, got {prune_rms}")
    if time_limit is not None and not time_limit > 0:
        raise ValueError(f"time_limit must be > 0 seconds, got {time_limit}")
    if start_sigma is not None and not (start_sigma > 0 and math.isfinite(start_sigma)):
        raise ValueError(f"start_sigma must be a finite noise level > 0 Å, got {start_sigma}")
    results: list[ConformerResult] = []
    mols: list[Chem.Mol | None] = []
    graphs: list[Data | None] = []
    checks: list[bool] = []
    keys: list[str] = []
    plans: list[GeometryPlan | None] = []
    chirality: list[StereoTargets | None] = []
    spent: list[float] = []  # seconds per molecule: preparation, sampling, checks, finishing
    quiet = rdBase.BlockLogs()  # each failure becomes one message of ours, not RDKit's lines
    for item, k in zip(inputs, counts, strict=True):
        t_prep = time.perf_counter()
        label, name = _label_of(item)
        notes: list[str] = []
        try:
            mol = prepare_input(item, max_heavy_atoms, notes)
            if elements is not None:
                check_model_elements(mol, elements)
            data = mol_to_data(mol, with_pos=False)
            if mol.GetNumAtoms() < 2:
                raise ValueError("a single atom has no conformation")
            unspecified = unspecified_stereo(mol)
            if unspecified:
                notes.append(f"{unspecified} unspecified stereo element(s): the model chooses "
                             "(--enumerate-stereo to cover every isomer)")
            res = ConformerResult(smiles=label, name=name, notes=notes)
            checks.append(num_stereo_elements(mol) > 0)
        except ValueError as exc:
            results.append(ConformerResult(smiles=label, name=name, error=str(exc), notes=notes))
            mols.append(None)
            graphs.append(None)
            checks.append(False)
            keys.append("")
            plans.append(None)
            chirality.append(None)
            spent.append(0.0)
            continue
        res.stats = {"requested": k, "sampled": 0, "stereo_rejected": 0, "mirrored": 0,
                     "geometry_rejected": 0, **{f"gate_{g}": 0 for g in GATE_KINDS},
                     "dropped": 0, "pruned": 0, "relax_failed": 0, "seed_failed": 0}
        results.append(res)
        mols.append(mol)
        graphs.append(data)
        keys.append(_graph_key(mol))
        plans.append(gate.plan(mol))  # the graph's reference geometry, once per molecule
        chirality.append(stereo_targets(mol) if checks[-1] else None)
        spent.append(time.perf_counter() - t_prep)
    del quiet

    accepted: list[list[tuple[torch.Tensor, str, int]]] = [[] for _ in results]
    limit = math.inf if time_limit is None else float(time_limit)
    for rnd in range(1, max_rounds + 1):
        # (molecule, draw number): the draw number names the noise stream, so the order
        # of the jobs does not change any draw
        jobs = [(i, results[i].stats["sampled"] + j) for i, g in enumerate(graphs)
                if g is not None and spent[i] < limit for j in range(counts[i] - len(accepted[i]))]
        if not jobs:
            break
        # molecules of similar size share batches: a batch's cost follows its largest
        # graphs (and max_pairs), so mixing a 10-atom molecule with a 100-atom one wastes
        # batch slots; the stable sort keeps input order among equal sizes
        jobs.sort(key=lambda job: graphs[job[0]].num_nodes)  # type: ignore[union-attr]
        if progress is not None:
            progress(0, stage=f"sampling round {rnd}" if rnd > 1 else "sampling")
        for chunk in _chunks(jobs, [graphs[i].num_nodes for i, _ in jobs],  # type: ignore[union-attr]
                             batch_size, max_pairs):
            chunk = [(i, d) for i, d in chunk if spent[i] < limit]
            if not chunk:
                continue
            seeds = [sample_seed(seed, keys[i], d) for i, d in chunk]
            starts = None
            if start_sigma is not None:
                embedded = []
                for (i, _), s in zip(chunk, seeds, strict=True):
                    t0 = time.perf_counter()
                    embedded.append(etkdg_seed(mols[i], s))
                    spent[i] += time.perf_counter() - t0  # an embedding is its molecule's
                for (i, _), e in zip(chunk, embedded, strict=True):
                    if e is None:
                        results[i].stats["sampled"] += 1
                        results[i].stats["seed_failed"] += 1
                chunk, seeds = ([c for c, e in zip(chunk, embedded, strict=True) if e is not None],
                                [s for s, e in zip(seeds, embedded, strict=True) if e is not None])
                starts = [e for e in embedded if e is not None]
                if not chunk:
                    continue
            t0 = time.perf_counter()
            coords = _sample_coordinates(
                draw, [graphs[i] for i, _ in chunk], seeds, device,  # type: ignore[misc]
                [chirality[i] for i, _ in chunk] if stereo_guidance is not False else None,
                stereo_guidance if isinstance(stereo_guidance, dict) else None,
                starts, start_sigma)
            elapsed = time.perf_counter() - t0
            pairs = [graphs[i].num_nodes ** 2 for i, _ in chunk]  # type: ignore[union-attr]
            total = sum(pairs)
            for (i, _), p in zip(chunk, pairs, strict=True):
                spent[i] += elapsed * p / total
            for (i, _), pos in zip(chunk, coords, strict=True):
                # the checks are the molecule's time too (the gate's MMFF minimisation can
                # cost more than the draw on a large ligand): the limit must see them
                t0 = time.perf_counter()
                try:
                    verdict = _check_draw(mols[i], pos, checks[i], plans[i],  # type: ignore[arg-type]
                                          results[i].stats)
                finally:
                    spent[i] += time.perf_counter() - t0
                if verdict is not None:
                    accepted[i].append((verdict[0], verdict[1], rnd))
            if progress is not None:
                progress(len(chunk))

    if progress is not None and (relax or prune_rms > 0):
        progress(0, stage="MMFF relaxation" if relax else "RMSD pruning")
    for i, res in enumerate(results):
        mol = mols[i]
        if mol is None:
            continue
        res.stats["dropped"] = counts[i] - len(accepted[i])
        stopped = spent[i] >= limit and len(accepted[i]) < counts[i]
        t0 = time.perf_counter()
        _finish(res, mol, accepted[i], relax, prune_rms, checks[i], plans[i])
        spent[i] += time.perf_counter() - t0
        # past the limit, the user is told, whether or not it cost conformers: the batch
        # that crosses it, the checks and the relaxation run to their end
        if stopped:
            note = (f"sampling stopped at the time limit ({_seconds(spent[i])} s of "
                    f"{limit:g} s; --time-limit to change) with {len(accepted[i])} of "
                    f"{counts[i]} conformers")
        elif spent[i] >= limit:
            work = "sampling, checks" + (" and MMFF relaxation" if relax else "")
            note = (f"took {_seconds(spent[i])} s, over the time limit of {limit:g} s "
                    f"({work}; --time-limit to change)")
        else:
            continue
        if res.error:
            res.error += f"; {note}"
        else:
            res.notes.append(note)
    return results


def check_model_elements(mol: Chem.Mol, elements: Sequence[str]) -> None:
    """Raise ``ValueError`` if ``mol`` has an element outside ``elements`` (the elements a
    model was trained on): one message naming them all."""
    allowed = set(elements)
    seen: list[str] = []
    for atom in mol.GetAtoms():
        sym = atom.GetSymbol()
        if sym not in allowed and sym not in seen:
            seen.append(sym)
    if seen:
        what = f"element {seen[0]} is" if len(seen) == 1 else f"elements {', '.join(seen)} are"
        raise ValueError(f"{what} outside what this model was trained on ({', '.join(elements)})")


def _check_draw(mol: Chem.Mol, pos: torch.Tensor, check: bool, plan: GeometryPlan,
                stats: dict[str, int]) -> tuple[torch.Tensor, str] | None:
    """Stereo decision, then the geometry gate, for one network draw of ``mol``:
    ``(positions, "sampled" | "mirrored")`` if it is kept, ``None`` if it is rejected
    (and resampled); ``stats`` counts it either way."""
    stats["sampled"] += 1
    if not check or check_stereo(mol, _with_positions(mol, pos)).ok:
        how = "sampled"
    else:
        pos = pos * torch.tensor([-1.0, 1.0, 1.0])
        if not check_stereo(mol, _with_positions(mol, pos)).ok:
            stats["stereo_rejected"] += 1
            return None
        how = "mirrored"
    # right stereo; now the geometry (torn bonds, clashes, ...): the gate rejects and
    # the slot is resampled, exactly like a stereo mismatch
    report = plan.check(pos.double().numpy())
    if not report.ok:
        _count_gate_failure(stats, report.failed)
        return None
    if how == "mirrored":
        stats["mirrored"] += 1
    return pos, how


def _seconds(t: float) -> str:
    """``"0.4"``, ``"75"``: seconds for a note, tenths only where they matter."""
    return f"{t:.1f}" if t < 10 else f"{t:.0f}"


def _count_gate_failure(stats: dict[str, int], failed: set[str]) -> None:
    stats["geometry_rejected"] += 1
    for kind in failed:
        stats[f"gate_{kind}"] += 1


def _gate_counts(stats: dict[str, Any]) -> str:
    """``"bond 2, clash 1"``: the non-zero per-check failure counts of ``stats``."""
    return ", ".join(f"{g.replace('_', ' ')} {stats[f'gate_{g}']}" for g in GATE_KINDS
                     if stats.get(f"gate_{g}"))


def _no_conformer_error(stats: dict[str, int]) -> str:
    """Why a molecule ended without conformers, e.g. ``"no conformer passed the geometry
    check (bond 25, clash 3 of 60 draws)"`` or ``"ETKDGv3 found no embedding to start
    from (12 draws)"``."""
    seed_failed = int(stats.get("seed_failed", 0))
    if seed_failed and seed_failed >= stats.get("sampled", 0):
        # nothing reached the network or the checks: blaming them would mislead
        return f"ETKDGv3 found no embedding to start from ({seed_failed} draws)"
    if not stats.get("geometry_rejected"):
        msg = "no conformer passed the stereo check"
    else:
        msg = (f"no conformer passed the geometry check ({_gate_counts(stats)} of "
               f"{stats['sampled']} draws)")
        if stats.get("stereo_rejected"):
            msg += f"; {stats['stereo_rejected']} other draws failed the stereo check"
    if seed_failed:
        msg += f"; {seed_failed} draws had no ETKDGv3 embedding to start from"
    return msg


def _finish(res: ConformerResult, mol: Chem.Mol, accepted: list[tuple[torch.Tensor, str, int]],
            relax: bool, prune_rms: float, check: bool, plan: GeometryPlan | None = None) -> None:
    out = Chem.Mol(mol)
    out.RemoveAllConformers()
    props: list[dict[str, Any]] = []
    for k, (pos, how, rnd) in enumerate(accepted):
        out.AddConformer(_positions_to_conformer(pos), assignId=True)
        props.append({"index": k, "stereo": how, "round": rnd, "energy": None})
    if relax and out.GetNumConformers():
        energies = mmff_relax(out)
        keep_ids = []
        for conf, p, e in zip(list(out.GetConformers()), props, energies, strict=True):
            p["energy"] = e
            if e is None:
                res.stats["relax_failed"] += 1
            # relaxation must not change the stereo the check accepted
            if check and not check_stereo(mol, Chem.Mol(out, confId=conf.GetId())).ok:
                res.stats["dropped"] += 1
                continue
            # nor break the geometry (the relaxed conformer is what gets written)
            if plan is not None:
                report = plan.check(conf.GetPositions())
                if not report.ok:
                    _count_gate_failure(res.stats, report.failed)
                    res.stats["dropped"] += 1
                    continue
            keep_ids.append(conf.GetId())
        out, props = _subset(out, props, keep_ids)
    if prune_rms > 0 and out.GetNumConformers() > 1:
        ids = [c.GetId() for c in out.GetConformers()]
        if relax:
            ids = sorted(ids, key=lambda c: (props[c]["energy"] is None, props[c]["energy"] or 0.0))
        kept = prune_by_rmsd(out, prune_rms, ids)
        res.stats["pruned"] = len(ids) - len(kept)
        out, props = _subset(out, props, kept)
    for k, p in enumerate(props):
        p["index"] = k
    res.mol = out
    res.conformer_props = props
    if out.GetNumConformers() == 0:
        res.error = _no_conformer_error(res.stats)


def _subset(mol: Chem.Mol, props: list[dict[str, Any]], ids: list[int]) -> tuple[Chem.Mol, list[dict[str, Any]]]:
    """Keep conformers ``ids`` (in that order), renumbered 0..k-1."""
    out = Chem.Mol(mol)
    out.RemoveAllConformers()
    new_props = []
    for cid in ids:
        out.AddConformer(Chem.Conformer(mol.GetConformer(cid)), assignId=True)
        new_props.append(props[cid])
    return out, new_props


def _label_of(item: Any) -> tuple[str, str | None]:
    """(SMILES shown in messages, name) of an input."""
    if isinstance(item, MoleculeInput):
        name = item.name
        if item.mol is not None:
            return _smiles_of(item.mol), name or _title(item.mol)
        return item.smiles or item.source, name
    if isinstance(item, str):
        return item, None
    return _smiles_of(item), _title(item)


def _title(mol: Chem.Mol | None) -> str | None:
    if mol is not None and mol.HasProp("_Name") and mol.GetProp("_Name").strip():
        return mol.GetProp("_Name").strip()
    return None


def _smiles_of(mol: Chem.Mol | None) -> str:
    if mol is None:
        return "<unreadable>"
    if mol.HasProp("_Name") and mol.GetProp("_Name").strip():
        name = mol.GetProp("_Name").strip()
    else:
        name = ""
    try:
        smi = Chem.MolToSmiles(Chem.RemoveHs(mol))
    except Exception:  # noqa: BLE001
        smi = name or "<unreadable>"
    return smi


def nothing_generated(results: Sequence[ConformerResult]) -> str:
    """One line for a run in which no molecule succeeded, naming the first failures."""
    shown = "; ".join(f"molecule {k} ({r.smiles}): {r.error}" for k, r in enumerate(results[:5], 1))
    more = f"; and {len(results) - 5} more" if len(results) > 5 else ""
    return f"no molecule could be generated: {shown}{more}"


def summarize(results: Sequence[ConformerResult], seconds: float | None = None) -> dict[str, Any]:
    """Totals over results (molecules ok/failed, conformers, stereo and geometry counters)."""
    ok = [r for r in results if r.ok]
    tot: dict[str, Any] = {"molecules": len(results), "succeeded": len(ok),
                           "failed": len(results) - len(ok),
                           "conformers": sum(r.num_conformers for r in ok)}
    for key in ("sampled", "stereo_rejected", "mirrored", "geometry_rejected",
                *(f"gate_{g}" for g in GATE_KINDS), "dropped", "pruned", "relax_failed",
                "seed_failed"):
        tot[key] = sum(r.stats.get(key, 0) for r in results)
    if seconds is not None:
        tot["seconds"] = seconds
    return tot


def summary_line(summary: dict[str, Any]) -> str:
    """One human-readable line of :func:`summarize`'s totals."""
    return (
        f"{summary['succeeded']}/{summary['molecules']} molecules, {summary['conformers']} "
        f"conformers; stereo: {summary['sampled']} sampled, {summary['stereo_rejected']} "
        f"rejected and resampled, {summary['mirrored']} mirrored; geometry: "
        f"{_geometry_part(summary)}; "
        + (f"{summary['seed_failed']} without an ETKDGv3 start; "
           if summary.get("seed_failed") else "")
        + f"{summary['dropped']} dropped"
        + (f"; {summary['pruned']} pruned" if summary.get("pruned") else "")
        + (f"; {summary['seconds']:.1f} s" if "seconds" in summary else "")
    )


def _geometry_part(summary: dict[str, Any]) -> str:
    """``"3 rejected (failed checks: bond 2, clash 1)"`` or ``"0 rejected"``; one draw can
    fail several checks, so the per-check counts may add up to more than the draws."""
    n = int(summary.get("geometry_rejected", 0))
    kinds = _gate_counts(summary)
    return f"{n} rejected" + (f" (failed checks: {kinds})" if kinds else "")
