"""The shipped protein chains (``data/proteins/chains.npz``), chains files built from a
user's own PDB / mmCIF files, and their PyG dataset.

The shipped file is written by ``scripts/build_protein_data.py`` from ProMod3's structure
database (see data/README.md): backbones N, CA, C, O as ``int16`` centi-Å, a per-chain
pointer, the sequence, the PDB id + chain and a similarity split (0 train, 1 valid,
2 test); the format and the split live in :mod:`molediff.domains.proteins.chainfile`.
:func:`chains_from_structures` + :func:`write_chains` make the same kind of file from a
directory of structures (``scripts/build_protein_data.py --structures DIR``), which
``domain.data_path=FILE.npz`` then trains on.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterable
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import Dataset
from torch_geometric.data import Data

from molediff.domains.proteins.chainfile import PARTS, Chain, write_chains
from molediff.domains.proteins.features import node_features, window_edges
from molediff.domains.proteins.io import chain_breaks, read_backbone, structure_format
from molediff.utils.errors import InputError, UsageError

log = logging.getLogger(__name__)

#: consecutive CA atoms closer than this (Å) are two copies of one residue (alternative
#: residues written under one number), not a peptide bond (cis peptides are about 2.9 Å)
OVERLAP_DISTANCE = 2.0


def default_data_path() -> Path:
    """``$MOLEDIFF_PROTEIN_DATA`` or the repository's ``data/proteins/chains.npz``."""
    env = os.environ.get("MOLEDIFF_PROTEIN_DATA")
    if env:
        return Path(env)
    return Path(__file__).resolve().parents[3] / "data" / "proteins" / "chains.npz"


@dataclass
class ProteinChains:
    """Backbones of one split: ``coords[i]`` is ``float32 [L_i, 4, 3]`` (Å, CA-centred)."""

    coords: list[np.ndarray]
    sequence: list[str]
    name: list[str]

    def __len__(self) -> int:
        return len(self.coords)

    @property
    def lengths(self) -> np.ndarray:
        return np.array([len(c) for c in self.coords])


@lru_cache(maxsize=4)
def _load(path: str) -> dict[str, np.ndarray]:
    p = Path(path)
    if not p.is_file():
        raise InputError(f"protein data file {p} not found (build it with "
                         "scripts/build_protein_data.py, see data/README.md)")
    with np.load(p, allow_pickle=False) as z:
        return {k: z[k] for k in z.files}


def load_chains(part: str, path: str | Path | None = None, limit: int | None = None,
                max_length: int | None = None) -> ProteinChains:
    """Chains of one part (``train`` / ``valid`` / ``test``), in file order, optionally the
    first ``limit`` of at most ``max_length`` residues."""
    z = _load(str(path or default_data_path()))
    ptr = z["ptr"]
    idx = np.flatnonzero(z["part"] == PARTS[part])
    if max_length is not None:
        idx = idx[(ptr[idx + 1] - ptr[idx]) <= max_length]
    if limit is not None:
        idx = idx[: int(limit)]
    coords = [z["coords"][ptr[i] : ptr[i + 1]].astype(np.float32) / 100.0 for i in idx]
    return ProteinChains(coords, [str(z["sequence"][i]) for i in idx],
                         [str(z["name"][i]) for i in idx])


def structure_files(sources: str | Path | Iterable[str | Path]) -> list[Path]:
    """Structure files of ``sources``: each directory searched recursively for ``.pdb``,
    ``.ent``, ``.cif``, ``.mmcif`` and ``.bcif`` files (each optionally ``.gz``), each
    file taken as is; sorted within a directory so the result does not depend on the file
    system. Raises :class:`InputError` for a source that does not exist."""
    items = [sources] if isinstance(sources, str | Path) else list(sources)
    files: list[Path] = []
    for item in items:
        p = Path(item).expanduser()
        if p.is_dir():
            files += sorted(f for f in p.rglob("*") if f.is_file() and structure_format(f))
        elif p.is_file():
            files.append(p)
        else:
            raise InputError(f"structure source {p} does not exist")
    return files


def _file_label(path: Path, roots: list[Path]) -> str:
    """``path`` below the directory it was found in (its bare name when given as a file),
    without format suffixes, so that ``a/x.pdb`` and ``b/x.pdb`` keep distinct names."""
    rel = next((path.relative_to(r) for r in roots if path.is_relative_to(r)), Path(path.name))
    suffix, gz = structure_format(rel) or ("", False)
    cut = len(suffix) + (len(".gz") if gz else 0)
    text = rel.as_posix()
    return text[: len(text) - cut]


def chains_from_structures(sources: str | Path | Iterable[str | Path], *, min_length: int = 40,
                           max_length: int = 256) -> tuple[list[Chain], dict[str, int]]:
    """Backbone segments of every protein chain in a directory (or list) of PDB / mmCIF
    files, ready for :func:`write_chains`.

    Each file (:func:`structure_files`) is read with
    :func:`~molediff.domains.proteins.io.read_backbone` (first model; modified residues
    such as MSE kept). Each chain is cut into segments wherever
    :func:`~molediff.domains.proteins.io.chain_breaks` finds a break (missing residues,
    residues dropped for missing N / CA / C / O, CA–CA above
    :data:`~molediff.domains.proteins.io.GAP_DISTANCE` Å) or two consecutive CA atoms are
    closer than :data:`OVERLAP_DISTANCE` Å, so every stored chain is one continuous
    backbone. Segments of ``min_length``..``max_length`` residues are kept, the first of
    each distinct sequence (in file order) only. A file that cannot be read is skipped with
    one warning line (logger ``molediff.domains.proteins.data``) and counted.

    Args:
        sources: a directory (searched recursively), a file, or several of either.
        min_length, max_length: segment lengths kept, residues (inclusive).

    Returns:
        ``chains``: ``(name, sequence, backbone float [L, 4, 3] Å)`` per kept segment;
        ``name`` is the file's path below its directory without suffixes, ``_`` and the
        chain letter, plus ``_<first>-<last>`` residue numbers when the chain was cut.
        ``counts``: ``files``, ``unreadable`` (skipped files), ``chains`` (protein chains
        read), ``cuts`` (breaks inside chains), ``segments`` (after cutting), ``length`` and ``duplicate`` (segments
        dropped for those reasons) and ``kept``.

    Raises:
        InputError: a source does not exist, or no file yields a usable segment.
    """
    if not 1 <= min_length <= max_length:
        raise UsageError(f"segment lengths must satisfy 1 <= min_length <= max_length, got "
                         f"{min_length}..{max_length}")
    items = [sources] if isinstance(sources, str | Path) else list(sources)
    roots = [Path(s).expanduser() for s in items if Path(s).expanduser().is_dir()]
    files = structure_files(items)
    counts = {"files": len(files), "unreadable": 0, "chains": 0, "cuts": 0, "segments": 0,
              "length": 0, "duplicate": 0, "kept": 0}
    chains: list[Chain] = []
    seen: set[str] = set()
    for path in files:
        try:
            bb = read_backbone(path, modified=True)
        except Exception as exc:  # noqa: BLE001 - one bad file of many must not stop the rest
            counts["unreadable"] += 1
            text = " ".join(str(exc).split()) or type(exc).__name__
            # read_backbone's own messages name the file; anything else gets the name here
            if not isinstance(exc, InputError):
                text = f"{path}: {type(exc).__name__}: {text}"
            log.warning("skipped unreadable file %d: %s", counts["unreadable"], text)
            continue
        label = _file_label(path, roots)
        brk = chain_breaks(bb)
        ca_ca = np.linalg.norm(np.diff(bb.coords[:, 1], axis=0), axis=-1)
        cut = brk | (ca_ca < OVERLAP_DISTANCE)
        counts["cuts"] += int((cut & (bb.chain_id[1:] == bb.chain_id[:-1])).sum())
        cuts = np.flatnonzero(cut) + 1
        starts = np.concatenate([[0], cuts])
        ends = np.concatenate([cuts, [len(bb.coords)]])
        counts["chains"] += len(set(bb.chain_id.tolist()))
        whole = {c: int((bb.chain_id == c).sum()) for c in set(bb.chain_id.tolist())}
        for a, b in zip(starts.tolist(), ends.tolist(), strict=True):
            counts["segments"] += 1
            chain = str(bb.chain_id[a])
            if not min_length <= b - a <= max_length:
                counts["length"] += 1
                continue
            seq = bb.sequence[a:b]
            if seq in seen:
                counts["duplicate"] += 1
                continue
            seen.add(seq)
            name = f"{label}_{chain}"
            if b - a < whole[chain]:
                name += f"_{bb.res_id[a]}-{bb.res_id[b - 1]}"
            chains.append((name, seq, bb.coords[a:b].copy()))
    counts["kept"] = len(chains)
    if not chains:
        where = ", ".join(str(s) for s in items) or "(nothing given)"
        if not files:
            raise InputError(f"no structure files (.pdb .ent .cif .mmcif .bcif, optionally "
                             f".gz) in {where}")
        raise InputError(
            f"no usable protein chain in {where}: {counts['files']} structure file(s) "
            f"(.pdb .ent .cif .mmcif .bcif, optionally .gz), {counts['unreadable']} "
            f"unreadable, {counts['segments']} chain segment(s), none of {min_length}-"
            f"{max_length} residues with a new sequence")
    return chains, counts


def backbone_to_data(coords: np.ndarray | torch.Tensor, chain: torch.Tensor | None = None,
                     motif: torch.Tensor | None = None) -> Data:
    """One backbone ``[L, 4, 3]`` (Å) -> ``Data(pos [L, 12], h, edge_index, edge_attr,
    chain, residue_index)``; ``pos`` is ``None`` for a template without coordinates."""
    n = len(coords) if coords is not None else int(chain.numel())
    chain = torch.zeros(n, dtype=torch.long) if chain is None else chain.long()
    h, index = node_features(chain, motif)
    ei, ea = window_edges(chain)
    pos = None
    if coords is not None:
        pos = torch.as_tensor(np.asarray(coords), dtype=torch.float32).reshape(n, 12)
    return Data(pos=pos, h=h, edge_index=ei, edge_attr=ea, chain=chain, residue_index=index,
                num_nodes=n)


class ChainDataset(Dataset):
    """PyG graphs of a :class:`ProteinChains`, featurised once and kept."""

    def __init__(self, chains: ProteinChains) -> None:
        self.chains = chains
        self._cache: dict[int, Data] = {}

    def __len__(self) -> int:
        return len(self.chains)

    def __getitem__(self, k: int) -> Data:
        k = int(k)
        item = self._cache.get(k)
        if item is None:
            item = backbone_to_data(self.chains.coords[k])
            self._cache[k] = item
        return item


__all__ = ["ProteinChains", "load_chains", "backbone_to_data", "ChainDataset",
           "default_data_path", "PARTS", "structure_files", "chains_from_structures",
           "write_chains", "OVERLAP_DISTANCE"]
