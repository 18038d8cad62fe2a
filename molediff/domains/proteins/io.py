"""Reading user structures (PDB / mmCIF via biotite) and writing designs as PDB.

Input: :func:`read_backbone` takes a ``.pdb`` / ``.ent`` / ``.cif`` / ``.mmcif`` /
``.bcif`` file (each optionally gzipped, ``.pdb.gz``), keeps the first model's amino-acid
residues of the chosen chains (all by default), and returns their N, CA, C, O coordinates
with chain letters and residue numbers. Residues missing a backbone atom are dropped and
reported; gaps (missing residue numbers or a CA–CA distance above 4.2 Å,
:func:`chain_breaks`) are reported too, in :attr:`Backbone.notes`. Unreadable files raise
one :class:`InputError`.

Output: :func:`pdb_text` writes one design as a poly-glycine backbone (N, CA, C, O;
chain A, B, ... ; residues numbered from 1 per chain) through biotite's ``PDBFile``, with
``REMARK 250`` lines recording the run's settings.
"""

from __future__ import annotations

import gzip
import io
from contextlib import nullcontext
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from molediff.domains.proteins.space import ATOMS
from molediff.utils.errors import InputError

CHAIN_LETTERS = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
#: consecutive CA atoms farther apart than this are a chain break, Å
GAP_DISTANCE = 4.2
_SUFFIXES = {".pdb", ".ent", ".cif", ".mmcif", ".bcif"}


@dataclass
class Backbone:
    """Backbone of a read structure: ``coords [L, 4, 3]`` (Å), ``chain_id [L]`` letters,
    ``res_id [L]`` residue numbers, ``sequence`` one-letter codes, ``notes`` what was
    dropped or found (gaps, missing atoms)."""

    coords: np.ndarray
    chain_id: np.ndarray
    res_id: np.ndarray
    sequence: str
    source: str
    notes: list[str] = field(default_factory=list)

    def residues(self) -> dict[str, np.ndarray]:
        """Residue numbers present per chain letter."""
        return {c: self.res_id[self.chain_id == c] for c in dict.fromkeys(self.chain_id.tolist())}

    def select(self, chain: str, start: int, end: int) -> np.ndarray:
        """Coordinates ``[n, 4, 3]`` of residues ``start..end`` of ``chain`` (in order)."""
        rows = [int(np.flatnonzero((self.chain_id == chain) & (self.res_id == r))[0])
                for r in range(start, end + 1)]
        return self.coords[rows]

    def chain_index(self) -> np.ndarray:
        """``int [L]`` chain number (order of first appearance)."""
        order = {c: i for i, c in enumerate(dict.fromkeys(self.chain_id.tolist()))}
        return np.array([order[c] for c in self.chain_id.tolist()], dtype=np.int64)


def structure_format(path: str | Path) -> tuple[str, bool] | None:
    """``(format suffix, gzipped)`` of a structure file name (``x.cif.gz`` ->
    ``(".cif", True)``), or ``None`` when it is not one :func:`read_backbone` reads."""
    p = Path(path)
    gz = p.suffix.lower() == ".gz"
    suffix = (p.with_suffix("") if gz else p).suffix.lower()
    return (suffix, gz) if suffix in _SUFFIXES else None


def read_backbone(path: str | Path, chains: str | list[str] | None = None, *,
                  modified: bool = False) -> Backbone:
    """Read the backbone of a PDB / mmCIF file (first model; ``chains``: letters to keep,
    e.g. ``"AB"`` or ``["A", "B"]``, default all; ``modified``: also keep amino acids
    written as HETATM, i.e. modified residues such as selenomethionine ``MSE``, with their
    parent's one-letter code). Raises :class:`InputError` on a missing, unreadable or empty
    file, or chains it does not have."""
    import biotite.structure as struc

    p = Path(path)
    if not p.is_file():
        raise InputError(f"input structure {p} does not exist or is not a file")
    fmt = structure_format(p)
    if fmt is None:
        suffix = (p.with_suffix("").suffix + p.suffix if p.suffix.lower() == ".gz"
                  else p.suffix).lower()
        raise InputError(f"input structure {p}: unknown format {suffix or '(none)'}; "
                         "give a .pdb, .ent, .cif, .mmcif or .bcif file (or one gzipped, .gz)")
    suffix, gz = fmt
    binary = suffix == ".bcif"
    try:
        # biotite's readers take open files as well as paths: gzip is read in memory
        with gzip.open(p, "rb" if binary else "rt") if gz else nullcontext(str(p)) as src:
            if suffix in (".pdb", ".ent"):
                from biotite.structure.io.pdb import PDBFile

                arr = PDBFile.read(src).get_structure(model=1)
            else:
                from biotite.structure.io import pdbx

                f = pdbx.BinaryCIFFile.read(src) if binary else pdbx.CIFFile.read(src)
                arr = pdbx.get_structure(f, model=1)
    except Exception as exc:  # noqa: BLE001 - any parser failure is the file's fault
        msg = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise InputError(f"input structure {p} could not be read: {msg}") from None
    if len(arr):
        keep = struc.filter_amino_acids(arr)
        arr = arr[keep if modified else keep & ~arr.hetero]
    if len(arr) == 0:
        raise InputError(f"input structure {p} has no amino-acid residues")
    present = list(dict.fromkeys(arr.chain_id.tolist()))
    if chains:
        want = list(chains) if isinstance(chains, str) else list(chains)
        absent = [c for c in want if c not in present]
        if absent:
            raise InputError(f"input structure {p} has no chain {', '.join(absent)} "
                             f"(chains: {', '.join(present)})")
        arr = arr[np.isin(arr.chain_id, want)]
    notes: list[str] = []
    coords, cids, rids, seq = [], [], [], []
    dropped: list[str] = []
    for res in struc.residue_iter(arr):
        names = res.atom_name.tolist()
        if not all(a in names for a in ATOMS):
            dropped.append(f"{res.chain_id[0]}{res.res_id[0]}{res.ins_code[0]}")
            continue
        # first altloc / first occurrence of each atom
        coords.append([res.coord[names.index(a)] for a in ATOMS])
        cids.append(str(res.chain_id[0]))
        rids.append(int(res.res_id[0]))
        try:
            from biotite.sequence import ProteinSequence

            seq.append(ProteinSequence.convert_letter_3to1(str(res.res_name[0])))
        except KeyError:
            # a modified residue: the CCD names its parent (MSE -> M)
            from biotite.structure.info import one_letter_code

            seq.append(one_letter_code(str(res.res_name[0])) or "X")
    if dropped:
        shown = ", ".join(dropped[:10]) + (f" and {len(dropped) - 10} more" if len(dropped) > 10 else "")
        notes.append(f"{len(dropped)} residue(s) missing N/CA/C/O atoms were skipped: {shown}")
    if not coords:
        raise InputError(f"input structure {p}: no residue has all of N, CA, C, O")
    bb = Backbone(np.asarray(coords, dtype=np.float64), np.array(cids), np.array(rids, dtype=int),
                  "".join(seq), str(p), notes)
    gaps = []
    same_chain = bb.chain_id[1:] == bb.chain_id[:-1]
    for i in np.flatnonzero(chain_breaks(bb) & same_chain).tolist():
        d = float(np.linalg.norm(bb.coords[i + 1, 1] - bb.coords[i, 1]))
        gaps.append(f"{bb.chain_id[i]}{bb.res_id[i]}-{bb.res_id[i + 1]} ({d:.1f} Å)")
    if gaps:
        notes.append(f"{len(gaps)} chain gap(s): " + ", ".join(gaps[:10])
                     + (" ..." if len(gaps) > 10 else ""))
    return bb


def chain_breaks(bb: Backbone) -> np.ndarray:
    """``bool [L-1]``: True where residue ``i + 1`` does not continue residue ``i``'s chain:
    another chain, a jump in residue numbers (missing residues, or residues dropped for
    missing backbone atoms) or consecutive CA atoms more than :data:`GAP_DISTANCE` Å
    apart."""
    if len(bb.coords) < 2:
        return np.zeros(0, dtype=bool)
    d = np.linalg.norm(np.diff(bb.coords[:, 1], axis=0), axis=-1)
    return ((bb.chain_id[1:] != bb.chain_id[:-1]) | (np.diff(bb.res_id) > 1)
            | (d > GAP_DISTANCE))


def pdb_text(coords: np.ndarray, chain: np.ndarray, remarks: list[str] | None = None) -> str:
    """PDB text of a poly-glycine backbone ``coords [L, 4, 3]`` (Å) with chains numbered by
    ``chain [L]`` (0 -> A, ...), residues numbered from 1 in each chain, and ``REMARK 250``
    lines (one per entry of ``remarks``). ``coords [M, L, 4, 3]``: ``M`` MODEL records
    (a trajectory, played as frames in PyMOL)."""
    import biotite.structure as struc
    from biotite.structure.io.pdb import PDBFile

    coords = np.asarray(coords, dtype=np.float64)
    models = coords if coords.ndim == 4 else coords[None]
    chain = np.asarray(chain, dtype=int)
    n = models.shape[1]
    arr = struc.AtomArrayStack(len(models), 4 * n)
    arr.coord = models.reshape(len(models), 4 * n, 3)
    arr.atom_name = np.tile(np.array(ATOMS), n)
    arr.element = np.tile(np.array(["N", "C", "C", "O"]), n)
    arr.res_name = np.full(4 * n, "GLY")
    arr.chain_id = np.repeat(np.array([CHAIN_LETTERS[c % 26] for c in chain]), 4)
    res_id = np.zeros(n, dtype=int)
    for c in np.unique(chain):
        rows = np.flatnonzero(chain == c)
        res_id[rows] = np.arange(1, len(rows) + 1)
    arr.res_id = np.repeat(res_id, 4)
    arr.hetero = np.zeros(4 * n, dtype=bool)
    f = PDBFile()
    f.set_structure(arr if coords.ndim == 4 else arr[0])
    lines = [f"REMARK 250 {r}"[:80] for r in (remarks or [])]
    f.lines = lines + f.lines
    buf = io.StringIO()
    f.write(buf)
    return buf.getvalue()


__all__ = ["Backbone", "read_backbone", "structure_format", "chain_breaks", "pdb_text",
           "CHAIN_LETTERS", "GAP_DISTANCE"]
