"""Conformer generation API: molecules in, stereo-checked 3D conformers (Å) out.

One code path serves ``molediff conformers`` (one SMILES), ``scripts/generate_conformers.py``
(files of many molecules) and the benchmark::

    gen = ConformerGenerator()                      # bundled checkpoint, EMA weights
    results = gen.generate(["CC(=O)Oc1ccccc1C(=O)O"], num_confs=10, seed=0)
    results[0].mol                                  # RDKit Mol, explicit H, 10 conformers

Conformers of all molecules are sampled together in batches of ``batch_size`` graphs.
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
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from rdkit import Chem
from rdkit.Chem import AllChem, rdMolAlign
from torch_geometric.data import Batch, Data

from molediff.core.samplers import SamplerSpec, sample
from molediff.core.space import GraphSpace
from molediff.domains.chem.featurize import (
    DEFAULT_MAX_HEAVY_ATOMS,
    check_elements,
    mol_to_data,
    smiles_to_mol,
)
from molediff.domains.chem.stereo import check_stereo

#: the checkpoint shipped with the package
BUNDLED_CHECKPOINT = Path(__file__).resolve().parents[2] / "checkpoints" / "conformers_qm9.pt"

MolInput = str | Chem.Mol


@dataclass
class ConformerResult:
    """Conformers of one input molecule.

    Attributes:
        smiles: the input SMILES (or the SMILES of an input molecule).
        mol: molecule with explicit H and one conformer per returned sample (Å); ``None``
            when the input failed.
        error: one-line reason the input failed (``None`` on success).
        conformer_props: per conformer: ``index``, ``stereo`` (``"sampled"`` or
            ``"mirrored"``), ``round``, ``energy`` (MMFF94 kcal/mol when relaxed).
        stats: ``requested``, ``sampled`` (network samples drawn), ``mirrored`` (samples
            whose mirror image was accepted), ``stereo_rejected`` (samples rejected and
            resampled: neither they nor their mirror image match), ``dropped`` (slots left
            empty), ``pruned`` (removed by RMSD pruning), ``relax_failed``.
    """

    smiles: str
    mol: Chem.Mol | None = None
    error: str | None = None
    conformer_props: list[dict[str, Any]] = field(default_factory=list)
    stats: dict[str, int] = field(default_factory=dict)

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
            m.SetProp("_Name", f"{self.smiles} conformer {props['index']}")
            p: dict[str, Any] = {"source_smiles": self.smiles}
            p |= {k: v for k, v in props.items() if v is not None}
            p |= {f"mol_{k}": v for k, v in self.stats.items()}
            out.append((m, p))
        return out


def prepare_input(item: MolInput, max_heavy_atoms: int = DEFAULT_MAX_HEAVY_ATOMS) -> Chem.Mol:
    """SMILES or RDKit molecule -> sanitised molecule with explicit H and no conformers.

    Raises:
        ValueError: invalid SMILES, unsupported element, too many heavy atoms (one
            clear message naming the cause).
    """
    if isinstance(item, str):
        return smiles_to_mol(item.strip(), max_heavy_atoms)
    if item is None:
        raise ValueError("unreadable molecule")
    mol = Chem.Mol(item)
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


def load_conformer_checkpoint(path: str | Path) -> dict[str, Any]:
    """Load a molediff conformer checkpoint with ``torch.load(weights_only=True)``.

    Raises:
        CheckpointError: missing, corrupted, not molediff, or not a conformer model.
    """
    import pickle
    import zipfile

    from molediff.utils.errors import CheckpointError

    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"checkpoint not found: {path}")
    try:
        ckpt = torch.load(path, map_location="cpu", weights_only=True)
    except (RuntimeError, EOFError, pickle.UnpicklingError, zipfile.BadZipFile, ValueError,
            OSError) as exc:
        raise CheckpointError(f"checkpoint {path} is corrupted or not a safe molediff "
                              f"checkpoint ({str(exc).strip()[:200]})") from exc
    meta = ckpt.get("molediff") if isinstance(ckpt, dict) else None
    if not isinstance(meta, dict) or "config_yaml" not in meta or "state_dict" not in ckpt:
        raise CheckpointError(f"{path} is not a molediff checkpoint (no 'molediff' entry)")
    if meta.get("domain") != "conformers":
        raise CheckpointError(
            f"checkpoint {path} was trained on domain {meta.get('domain')!r}, not 'conformers'")
    return ckpt


class ConformerGenerator:
    """A trained conformer model ready to sample.

    Args:
        checkpoint: molediff checkpoint (``None``: the bundled
            ``molediff/checkpoints/conformers_qm9.pt``).
        sampler: core sampler name (``heun``, ``euler``, ``dpmpp_2m``, ...) with the core's
            default options; ``None`` keeps the checkpoint's sampler and its options.
        steps: sampler grid steps (``None``: the checkpoint's).
        sampler_options: options of the sampler (e.g. ``{"s_noise": 1.0}``), applied over
            the checkpoint's when ``sampler`` is ``None``.
        device: torch device.
        use_ema: sample with the EMA weights (default) or the raw ones.
    """

    def __init__(
        self,
        checkpoint: str | Path | None = None,
        sampler: str | None = None,
        steps: int | None = None,
        device: str | torch.device = "cpu",
        use_ema: bool = True,
        sampler_options: dict[str, Any] | None = None,
    ) -> None:
        from omegaconf import OmegaConf

        from molediff.utils.errors import CheckpointError
        from molediff.utils.instantiate import instantiate

        self.checkpoint = Path(checkpoint) if checkpoint is not None else BUNDLED_CHECKPOINT
        ckpt = load_conformer_checkpoint(self.checkpoint)
        cfg = OmegaConf.create(ckpt["molediff"]["config_yaml"])
        # built here rather than through molediff.train (which imports Lightning: seconds
        # of start-up for a command-line tool); same configs, same objects
        self.domain = instantiate(cfg.domain, what="domain")
        net = self.domain.build_net(cfg.model)
        denoiser = instantiate(cfg.parameterization, what="parameterization", net=net)
        self.schedule = instantiate(cfg.schedule, what="schedule")
        scfg = cfg.sampler
        self.sampler = SamplerSpec(
            sampler or str(scfg.name),
            int(steps if steps is not None else scfg.steps),
            {**({} if sampler is not None
                else dict(OmegaConf.to_container(scfg.get("options") or {}, resolve=True))),
             **(sampler_options or {})},
        )
        prefix = "ema.shadow." if use_ema else "denoiser."
        state = {k[len(prefix):]: v for k, v in ckpt["state_dict"].items() if k.startswith(prefix)}
        if not state:
            raise CheckpointError(f"checkpoint {self.checkpoint} has no '{prefix}*' weights")
        try:
            denoiser.load_state_dict(state)
        except RuntimeError as exc:
            raise CheckpointError(f"checkpoint weights do not fit its config: {exc}") from exc
        self.device = torch.device(device)
        self.denoiser = denoiser.eval().requires_grad_(False).to(self.device)
        self.trained_steps = int(ckpt["molediff"].get("global_step", -1))
        self.max_heavy_atoms = int(getattr(self.domain, "max_heavy_atoms", DEFAULT_MAX_HEAVY_ATOMS))

    # ---------------------------------------------------------------- sampling
    @torch.no_grad()
    def sample_coordinates(self, graphs: Sequence[Data], generator: torch.Generator) -> list[torch.Tensor]:
        """One coordinate sample (``[n_i, 3]`` Å, CPU) per featurised graph, all in one batch."""
        batch = Batch.from_data_list([g.clone() for g in graphs]).to(self.device)
        space = GraphSpace(batch.batch, int(batch.num_graphs))
        template = torch.zeros(batch.num_nodes, 3, device=self.device)
        sigmas = self.schedule.sigmas(self.sampler.steps).to(self.device).float()
        x, _ = sample(self.sampler.fn, self.denoiser, template, sigmas, space=space, cond=batch,
                      generator=generator, **self.sampler.options)
        x = x.float().cpu()
        ptr = batch.ptr.cpu().tolist()
        return [x[ptr[i] : ptr[i + 1]] for i in range(len(graphs))]

    def generate(
        self,
        inputs: Sequence[MolInput],
        num_confs: int = 10,
        *,
        seed: int = 0,
        batch_size: int = 64,
        max_rounds: int = 6,
        relax: bool = False,
        prune_rms: float = 0.0,
        progress: Callable[[int], None] | None = None,
    ) -> list[ConformerResult]:
        """Conformers for every input (SMILES or RDKit molecule), in input order.

        Args:
            inputs: SMILES strings or RDKit molecules (failures become results with
                ``error`` set; the others are unaffected).
            num_confs: conformers requested per molecule.
            seed: seed of all sampling noise (same seed + inputs -> same output).
            batch_size: graphs (conformers) per network batch, mixed across molecules.
            max_rounds: resampling rounds for stereo mismatches (1 = no resampling).
            relax: MMFF94-relax the accepted conformers (energies in kcal/mol).
            prune_rms: drop conformers within this heavy-atom RMSD (Å) of a kept one.
            progress: called with the number of conformer slots finished after each batch.
        """
        if num_confs < 1:
            raise ValueError(f"num_confs must be >= 1, got {num_confs}")
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        gen = torch.Generator(device=self.device).manual_seed(int(seed))
        results: list[ConformerResult] = []
        mols: list[Chem.Mol | None] = []
        graphs: list[Data | None] = []
        checks: list[bool] = []
        for item in inputs:
            label = item if isinstance(item, str) else _smiles_of(item)
            try:
                mol = prepare_input(item, self.max_heavy_atoms)
                data = mol_to_data(mol, with_pos=False)
                if mol.GetNumAtoms() < 2:
                    raise ValueError("a single atom has no conformation")
                res = ConformerResult(smiles=label)
                checks.append(num_stereo_elements(mol) > 0)
            except ValueError as exc:
                results.append(ConformerResult(smiles=label, error=str(exc)))
                mols.append(None)
                graphs.append(None)
                checks.append(False)
                continue
            res.stats = {"requested": num_confs, "sampled": 0, "stereo_rejected": 0,
                         "mirrored": 0, "dropped": 0, "pruned": 0, "relax_failed": 0}
            results.append(res)
            mols.append(mol)
            graphs.append(data)

        accepted: list[list[tuple[torch.Tensor, str, int]]] = [[] for _ in results]
        for rnd in range(1, max(1, max_rounds) + 1):
            jobs = [i for i, g in enumerate(graphs) if g is not None
                    for _ in range(num_confs - len(accepted[i]))]
            if not jobs:
                break
            for start in range(0, len(jobs), batch_size):
                chunk = jobs[start : start + batch_size]
                coords = self.sample_coordinates([graphs[i] for i in chunk], gen)  # type: ignore[misc]
                for i, pos in zip(chunk, coords, strict=True):
                    results[i].stats["sampled"] += 1
                    if not checks[i] or check_stereo(mols[i], _with_positions(mols[i], pos)).ok:
                        accepted[i].append((pos, "sampled", rnd))
                        continue
                    mirrored = pos * torch.tensor([-1.0, 1.0, 1.0])
                    if check_stereo(mols[i], _with_positions(mols[i], mirrored)).ok:
                        accepted[i].append((mirrored, "mirrored", rnd))
                        results[i].stats["mirrored"] += 1
                    else:
                        results[i].stats["stereo_rejected"] += 1
                if progress is not None:
                    progress(len(chunk))

        for i, res in enumerate(results):
            mol = mols[i]
            if mol is None:
                continue
            res.stats["dropped"] = num_confs - len(accepted[i])
            self._finish(res, mol, accepted[i], relax, prune_rms, checks[i])
        return results

    def _finish(self, res: ConformerResult, mol: Chem.Mol,
                accepted: list[tuple[torch.Tensor, str, int]], relax: bool, prune_rms: float,
                check: bool) -> None:
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
            res.error = "no conformer passed the stereo check"


def _subset(mol: Chem.Mol, props: list[dict[str, Any]], ids: list[int]) -> tuple[Chem.Mol, list[dict[str, Any]]]:
    """Keep conformers ``ids`` (in that order), renumbered 0..k-1."""
    out = Chem.Mol(mol)
    out.RemoveAllConformers()
    new_props = []
    for cid in ids:
        out.AddConformer(Chem.Conformer(mol.GetConformer(cid)), assignId=True)
        new_props.append(props[cid])
    return out, new_props


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


def summarize(results: Sequence[ConformerResult], seconds: float | None = None) -> dict[str, Any]:
    """Totals over results (molecules ok/failed, conformers, stereo counters)."""
    ok = [r for r in results if r.ok]
    tot: dict[str, Any] = {"molecules": len(results), "succeeded": len(ok),
                           "failed": len(results) - len(ok),
                           "conformers": sum(r.num_conformers for r in ok)}
    for key in ("sampled", "stereo_rejected", "mirrored", "dropped", "pruned", "relax_failed"):
        tot[key] = sum(r.stats.get(key, 0) for r in results)
    if seconds is not None:
        tot["seconds"] = seconds
    return tot


def summary_line(summary: dict[str, Any]) -> str:
    """One human-readable line of :func:`summarize`'s totals."""
    return (
        f"{summary['succeeded']}/{summary['molecules']} molecules, {summary['conformers']} "
        f"conformers; stereo: {summary['sampled']} sampled, {summary['stereo_rejected']} "
        f"rejected and resampled, {summary['mirrored']} mirrored, {summary['dropped']} dropped"
        + (f"; {summary['pruned']} pruned" if summary.get("pruned") else "")
        + (f"; {summary['seconds']:.1f} s" if "seconds" in summary else "")
    )


def timed_generate(gen: ConformerGenerator, inputs: Sequence[MolInput], **kwargs: Any
                   ) -> tuple[list[ConformerResult], float]:
    """:meth:`ConformerGenerator.generate` plus its wall time in seconds."""
    t0 = time.perf_counter()
    res = gen.generate(inputs, **kwargs)
    return res, time.perf_counter() - t0


def export_checkpoint(src: str | Path, dst: str | Path = BUNDLED_CHECKPOINT,
                      sampler: dict[str, Any] | None = None) -> Path:
    """Slim a conformer training checkpoint into a bundled one
    (:func:`molediff.train.checkpoint.export_checkpoint`; default destination: the
    package's ``conformers_qm9.pt``)."""
    from molediff.train.checkpoint import export_checkpoint as export

    return export(src, dst, expect_domain="conformers", sampler=sampler)
