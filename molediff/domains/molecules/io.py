"""Write generated 3D molecules to SDF / XYZ (atomically) and read them back.

Positions are in Å throughout. A molecule is ``(atomic_numbers (n,), positions (n, 3))``
with explicit hydrogens, as produced by a generator. Every write goes to a temporary file
in the destination folder and is moved into place with ``os.replace`` only after it was
flushed and fsynced, so an interrupted or failing write never leaves a half-written file
(and never clobbers an existing good one).
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from rdkit import Chem

from molediff.domains.molecules.bonds import (
    DEFAULT_COV_FACTOR,
    edm_mol,
    mol_from_bond_orders,
    perceive_bonds,
    symbol,
    to_atomic_numbers,
    to_numpy_positions,
)

__all__ = [
    "atomic_write_text",
    "xyz_block",
    "write_xyz",
    "parse_xyz",
    "read_xyz",
    "molecule_to_mol",
    "sdf_block",
    "write_sdf",
    "parse_sdf",
    "read_sdf",
    "read_sdf_mols",
]

Molecule = tuple[Any, Any]
BOND_MODES = ("edm", "rdkit", "none")


def atomic_write_text(path: str | os.PathLike, text: str) -> Path:
    """Write ``text`` to ``path`` atomically (temp file in the same folder + ``os.replace``).

    The temporary file lives next to the target because ``os.replace`` is only atomic
    within one file system. Parent folders are created.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="\n") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
    return path


# --------------------------------------------------------------------------------------
# XYZ
# --------------------------------------------------------------------------------------


def xyz_block(atomic_numbers: Any, positions: Any, comment: str = "") -> str:
    """One XYZ frame: atom count, comment line, ``symbol x y z`` rows (Å, 6 decimals)."""
    z = to_atomic_numbers(atomic_numbers)
    pos = to_numpy_positions(positions) if len(z) else np.zeros((0, 3))
    if "\n" in comment:
        raise ValueError("an XYZ comment must be a single line")
    lines = [str(len(z)), comment]
    lines += [
        f"{symbol(zi):<2s} {x:12.6f} {y:12.6f} {w:12.6f}"
        for zi, (x, y, w) in zip(z.tolist(), pos.tolist(), strict=True)
    ]
    return "\n".join(lines) + "\n"


def write_xyz(
    path: str | os.PathLike,
    molecules: Iterable[Molecule],
    comments: Sequence[str] | None = None,
) -> Path:
    """Write molecules as a multi-frame XYZ file (atomic write). Positions in Å."""
    mols = list(molecules)
    comments = list(comments) if comments is not None else [f"mol_{k}" for k in range(len(mols))]
    if len(comments) != len(mols):
        raise ValueError(f"{len(mols)} molecules but {len(comments)} comments")
    text = "".join(xyz_block(z, p, c) for (z, p), c in zip(mols, comments, strict=True))
    return atomic_write_text(path, text)


def parse_xyz(text: str) -> list[tuple[np.ndarray, np.ndarray, str]]:
    """Parse one or more XYZ frames: ``[(atomic_numbers, positions_Å, comment), ...]``."""
    lines = text.splitlines()
    out = []
    k = 0
    while k < len(lines):
        if not lines[k].strip():
            k += 1
            continue
        try:
            n = int(lines[k].split()[0])
        except ValueError as e:
            raise ValueError(f"line {k + 1}: expected an atom count, got {lines[k]!r}") from e
        if k + 2 + n > len(lines):
            raise ValueError(f"line {k + 1}: frame of {n} atoms is truncated")
        comment = lines[k + 1]
        rows = [lines[k + 2 + i].split() for i in range(n)]
        z = to_atomic_numbers(
            [int(r[0]) if r[0].isdigit() else r[0].capitalize() for r in rows]
        )
        pos = np.array([[float(v) for v in r[1:4]] for r in rows], dtype=np.float64)
        out.append((z, pos.reshape(n, 3), comment))
        k += 2 + n
    return out


def read_xyz(path: str | os.PathLike) -> list[tuple[np.ndarray, np.ndarray, str]]:
    """Read a (multi-frame) XYZ file: ``[(atomic_numbers, positions_Å, comment), ...]``."""
    return parse_xyz(Path(path).read_text(encoding="utf-8"))


# --------------------------------------------------------------------------------------
# SDF
# --------------------------------------------------------------------------------------


def molecule_to_mol(
    atomic_numbers: Any,
    positions: Any,
    bonds: str = "edm",
    *,
    cov_factor: float = DEFAULT_COV_FACTOR,
) -> Chem.Mol:
    """RDKit molecule (explicit H, 3D conformer in Å) with bonds assigned for output.

    Args:
        bonds: ``"edm"`` (EDM distance table), ``"rdkit"`` (RDKit connectivity + xyz2mol
            bond orders and formal charges, falling back to EDM's bonds for fragments it
            cannot assign) or ``"none"``.

    The molecule gets the property ``molediff_bonds`` naming what was used
    (``edm``, ``rdkit``, ``rdkit+edm_fallback``, ``none``).
    """
    if bonds not in BOND_MODES:
        raise ValueError(f"bonds must be one of {BOND_MODES}, got {bonds!r}")
    z = to_atomic_numbers(atomic_numbers)
    n = len(z)
    pos = to_numpy_positions(positions) if n else np.zeros((0, 3))
    source = bonds
    if bonds == "edm":
        mol = edm_mol(z, pos)
    elif bonds == "none":
        mol = mol_from_bond_orders(z, pos, np.zeros((n, n), dtype=np.int64))
    else:
        mol, assigned = perceive_bonds(z, pos, cov_factor=cov_factor)
        if not assigned.all():
            # Keep the perceived fragments, but give failed ones the EDM bonds rather than
            # a misleading all-single connectivity.
            ref = edm_mol(z, pos)
            rw = Chem.RWMol(mol)
            bad = set(np.flatnonzero(~assigned).tolist())
            for b in list(rw.GetBonds()):
                if b.GetBeginAtomIdx() in bad or b.GetEndAtomIdx() in bad:
                    rw.RemoveBond(b.GetBeginAtomIdx(), b.GetEndAtomIdx())
            for b in ref.GetBonds():
                i, j = b.GetBeginAtomIdx(), b.GetEndAtomIdx()
                if (i in bad or j in bad) and rw.GetBondBetweenAtoms(i, j) is None:
                    rw.AddBond(i, j, b.GetBondType())
            mol = rw.GetMol()
            mol.UpdatePropertyCache(strict=False)
            source = "rdkit+edm_fallback"
    mol.SetProp("molediff_bonds", source)
    return mol


def _set_props(mol: Chem.Mol, name: str | None, props: Mapping[str, Any] | None) -> None:
    if name is not None:
        mol.SetProp("_Name", name)
    for key, value in (props or {}).items():
        mol.SetProp(str(key), str(value))


def sdf_block(mol: Chem.Mol) -> str:
    """One SDF record (V2000 mol block + properties + ``$$$$``) for an RDKit molecule.

    Unsanitised molecules are fine: the bonds are written as assigned, never kekulised or
    re-perceived, so what is in the file is exactly what the bond rule gave.
    """
    block = Chem.MolToMolBlock(mol, kekulize=False, forceV3000=mol.GetNumAtoms() > 999)
    props = "".join(
        f">  <{k}>\n{mol.GetProp(k)}\n\n" for k in mol.GetPropNames() if not k.startswith("_")
    )
    return block + props + "$$$$\n"


def write_sdf(
    path: str | os.PathLike,
    molecules: Iterable[Molecule | Chem.Mol],
    bonds: str = "edm",
    *,
    names: Sequence[str] | None = None,
    properties: Sequence[Mapping[str, Any]] | None = None,
    cov_factor: float = DEFAULT_COV_FACTOR,
) -> Path:
    """Write molecules to an SDF file (atomic write). Positions in Å.

    Args:
        molecules: ``(atomic_numbers, positions_Å)`` pairs or ready RDKit molecules
            (written with their own bonds and first conformer).
        bonds: bond assignment for pairs: ``"edm"``, ``"rdkit"`` or ``"none"``
            (see :func:`molecule_to_mol`).
        names: title line per molecule (default ``mol_<k>``).
        properties: per-molecule SD properties (values written with ``str``).
    """
    items = list(molecules)
    names = list(names) if names is not None else [f"mol_{k}" for k in range(len(items))]
    if len(names) != len(items):
        raise ValueError(f"{len(items)} molecules but {len(names)} names")
    if properties is not None and len(properties) != len(items):
        raise ValueError(f"{len(items)} molecules but {len(properties)} property dicts")
    chunks = []
    for k, item in enumerate(items):
        if isinstance(item, Chem.Mol):
            mol = Chem.Mol(item)
        else:
            mol = molecule_to_mol(item[0], item[1], bonds, cov_factor=cov_factor)
        _set_props(mol, names[k], properties[k] if properties is not None else None)
        chunks.append(sdf_block(mol))
    return atomic_write_text(path, "".join(chunks))


def _iter_sdf_mols(supplier: Iterable[Chem.Mol | None]) -> Iterator[Chem.Mol]:
    for k, mol in enumerate(supplier):
        if mol is None:
            raise ValueError(f"SDF record {k} could not be parsed")
        yield mol


def parse_sdf(text: str, sanitize: bool = False) -> list[Chem.Mol]:
    """Parse SDF text (one or more records) into RDKit molecules, hydrogens kept.

    ``sanitize=False`` by default so that generated molecules with impossible valences
    can still be read back and inspected.
    """
    supplier = Chem.SDMolSupplier()
    supplier.SetData(text, sanitize=sanitize, removeHs=False, strictParsing=True)
    return [_finish(m, sanitize) for m in _iter_sdf_mols(supplier)]


def _finish(mol: Chem.Mol, sanitize: bool) -> Chem.Mol:
    if not sanitize:
        mol.UpdatePropertyCache(strict=False)
    return mol


def read_sdf_mols(path: str | os.PathLike, sanitize: bool = False) -> list[Chem.Mol]:
    """Read an SDF file into RDKit molecules (hydrogens kept)."""
    return parse_sdf(Path(path).read_text(encoding="utf-8"), sanitize=sanitize)


def read_sdf(path: str | os.PathLike) -> list[tuple[np.ndarray, np.ndarray]]:
    """Read an SDF file back into ``(atomic_numbers, positions_Å)`` pairs."""
    out = []
    for mol in read_sdf_mols(path):
        z = np.array([a.GetAtomicNum() for a in mol.GetAtoms()], dtype=np.int64)
        pos = (
            mol.GetConformer().GetPositions()
            if mol.GetNumConformers()
            else np.zeros((mol.GetNumAtoms(), 3))
        )
        out.append((z, np.asarray(pos, dtype=np.float64)))
    return out
