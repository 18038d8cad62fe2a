"""Drug-like 3D ligands from the PDB Chemical Component Dictionary (CCD) bundled with biotite.

The PyPI package ``biotite`` ships the whole CCD as ``biotite/structure/info/components.bcif``
(biotite 1.6.0: 49,196 components, last ``pdbx_modified_date`` 2026-01-16).  Every
component has a name (``STI``, ``IBP``, ...), atoms with element, formal charge and *ideal*
coordinates (``pdbx_model_Cartn_{x,y,z}_ideal``: a computed, energy-minimised geometry
in Å, hydrogens included), and a bond list with Kekulé orders.  Nothing is downloaded.

:func:`component_to_mol` turns one component into an RDKit molecule: atoms in CCD order
with explicit hydrogens (``SetNoImplicit``), formal charges and bonds converted with
biotite's RDKit interface (``biotite.interface.rdkit.to_mol``, Kekulé orders from the CCD
``value_order``; RDKit perceives aromaticity when it sanitises), the ideal coordinates
as the single 3D conformer, and stereo tags perceived from that geometry.

Filter (rules applied in this order; a component is counted under the first rule it
fails; counts for biotite 1.6.0, also in ``data/README.md`` and the split file's meta):

=====================  ===============================================================  =======
rule                   removes components that ...                                      removed
=====================  ===============================================================  =======
``obsolete``           have ``pdbx_release_status`` other than ``REL``                       757
``polymer_type``       have a CCD ``type`` other than ``NON-POLYMER`` (any case): L/D-      4,080
                       peptide linking, DNA/RNA linking, saccharides, ``peptide-like``;
                       the standard amino acids and nucleotides are all ``*linking``
``missing_ideal``      have ``pdbx_ideal_coordinates_missing_flag = Y`` or any ideal          571
                       coordinate absent (biotite would silently fall back to the
                       experimental model coordinates)
``no_atoms``           list no atoms (``UNL``, unknown ligand)                                  1
``elements``           contain an element outside H C N O F P S Cl Br I (metals, B,         1,192
                       Se, Si, deuterium ``D``, unknown ``X``)
``heavy_atoms``        have fewer than 8 or more than 50 heavy atoms                        2,269
``degenerate_coords``  have two atoms closer than 0.5 Å in the ideal geometry                   2
                       (placeholder coordinates, e.g. all zero)
``rdkit``              cannot be converted or sanitised by RDKit (valence errors,              15
                       kekulisation failures) or give no InChI
``radicals``           keep radical electrons after sanitisation: hydrogens missing             9
                       from the CCD entry (every hydrogen must be an explicit atom)
``fragments``          consist of more than one connected fragment (salts, complexes)           0
``duplicate``          repeat a standard InChIKey already kept (the first component in         72
                       CCD ID order is kept; stereoisomers have different keys, some
                       tautomers share one: standard InChI has mobile H)
=====================  ===============================================================  =======

40,228 of 49,196 components remain.  RDKit's CIP labels perceived from the ideal
geometry agree with the CCD's own ``pdbx_stereo_config`` for 50,286 of 50,999 labelled
stereocentres (98.6 %).

Heavy-atom bounds: the lower bound 8 removes the solvents, ions, buffer and
cryo-protectant fragments that dominate the small end of the CCD (water, glycerol ``GOL``
with 6 heavy atoms, ``EDO``, ``DMS``, ``ACT``, ``SO4``, ``PEG`` with 7); they are not
drug-like and have at most a handful of conformers.  The upper bound 50 (about 700 Da)
keeps small-molecule drugs (imatinib has 37) and bounds the cost of conformer generation.

The fixed scaffold split of the surviving IDs is shipped as ``data/ccd_split/split.npz``
(see :func:`scaffold_split`, ``scripts/build_ccd_split.py``); :func:`load_ccd_split`
reads it and :class:`CCDLigands` gives the molecules of one part, cached after the
first conversion under ``$MOLEDIFF_CACHE`` or ``~/.cache/molediff``.
"""

from __future__ import annotations

import os
import tempfile
import time
import warnings
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from importlib.metadata import version
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from rdkit import Chem
from rdkit.Chem.Scaffolds import MurckoScaffold
from rdkit.rdBase import BlockLogs

from molediff.domains.chem.qm9 import cache_dir

if TYPE_CHECKING:
    from biotite.structure import AtomArray

#: elements a kept component may contain (the featuriser's ATOM_TYPES)
ALLOWED_ELEMENTS: frozenset[str] = frozenset({"H", "C", "N", "O", "F", "P", "S", "Cl", "Br", "I"})
MIN_HEAVY_ATOMS = 8
MAX_HEAVY_ATOMS = 50
#: two atoms closer than this (Å) in the ideal geometry mark placeholder coordinates
MIN_ATOM_DISTANCE = 0.5
#: filter rules in the order they are applied (see the module docstring)
FILTER_RULES: tuple[str, ...] = (
    "obsolete", "polymer_type", "missing_ideal", "no_atoms", "elements", "heavy_atoms",
    "degenerate_coords", "rdkit", "radicals", "fragments", "duplicate",
)
SPLIT_NAMES: tuple[str, ...] = ("train", "valid", "test")
DEFAULT_FRACTIONS: dict[str, float] = {"valid": 0.1, "test": 0.1}
DEFAULT_SEED = 20240601
# Bumped whenever the cached molecules change meaning, so stale caches are rebuilt.
CACHE_VERSION = 1


class CCDFilterError(ValueError):
    """A component that fails one filter rule; ``rule`` is one of :data:`FILTER_RULES`."""

    def __init__(self, comp_id: str, rule: str, detail: str) -> None:
        super().__init__(f"CCD {comp_id}: {rule}: {detail}")
        self.comp_id = comp_id
        self.rule = rule


def biotite_version() -> str:
    return version("biotite")


def _ccd():  # -> biotite BinaryCIFBlock (biotite is imported lazily)
    from biotite.structure.info import get_ccd

    return get_ccd()


def ccd_snapshot_date() -> str:
    """Latest ``pdbx_modified_date`` in the bundled CCD (``YYYY-MM-DD``): its snapshot date."""
    dates = _ccd()["chem_comp"]["pdbx_modified_date"].as_array(str)
    return str(max(d for d in dates.tolist() if d[:1].isdigit()))


def component_ids() -> list[str]:
    """Every component ID of the bundled CCD, in CCD (sorted) order."""
    from biotite.structure.info import all_residues

    return list(all_residues())


def _element(symbol: str) -> str:
    return symbol[:1].upper() + symbol[1:].lower()


def _header(comp_id: str) -> dict[str, str]:
    from biotite.structure.info import get_from_ccd

    cat = get_from_ccd("chem_comp", comp_id)
    if cat is None:
        raise KeyError(f"{comp_id!r} is not in the bundled CCD")
    return {k: str(cat[k].as_item()) for k in
            ("type", "pdbx_release_status", "pdbx_ideal_coordinates_missing_flag")}


def component_atoms(comp_id: str) -> AtomArray:
    """The component as a biotite ``AtomArray`` with its bonds and *ideal* coordinates (Å).

    Same result as ``biotite.structure.info.residue(comp_id)`` except that it never falls
    back to the experimental model coordinates, and it reads only this component's rows
    (about 1 ms instead of 30 ms).

    Raises:
        KeyError: unknown component.
        CCDFilterError: rule ``no_atoms`` (placeholder entries such as ``UNL``) or
            ``missing_ideal`` (any ideal coordinate absent).
    """
    from biotite.structure.info import get_from_ccd
    from biotite.structure.io.pdbx import BinaryCIFBlock, get_component

    atoms = get_from_ccd("chem_comp_atom", comp_id)
    if atoms is None:
        if get_from_ccd("chem_comp", comp_id) is None:
            raise KeyError(f"{comp_id!r} is not in the bundled CCD")
        raise CCDFilterError(comp_id, "no_atoms", "the entry lists no atoms")
    for dim in "xyz":
        mask = atoms[f"pdbx_model_Cartn_{dim}_ideal"].mask
        if mask is not None and np.any(mask.array != 0):
            raise CCDFilterError(comp_id, "missing_ideal", "ideal coordinates absent")
    block = {"chem_comp_atom": atoms}
    bonds = get_from_ccd("chem_comp_bond", comp_id)
    if bonds is not None:
        block["chem_comp_bond"] = bonds
    with warnings.catch_warnings():
        # a single atom has no bond category; that warning is expected
        warnings.simplefilter("ignore", UserWarning)
        array = get_component(BinaryCIFBlock(block), use_ideal_coord=True)
    if bonds is None:
        from biotite.structure import BondList

        array.bonds = BondList(array.array_length())
    return array


def component_model_coords(comp_id: str) -> np.ndarray:
    """The component's *experimental* model coordinates (Å, ``float64 [n_atoms, 3]``, the
    atom order of :func:`component_atoms` and :func:`component_to_mol`): the conformation
    seen in the crystal structure the component was defined from. Atoms without model
    coordinates (often hydrogens) are NaN rows.

    Raises:
        KeyError: unknown component, or an entry without atoms.
    """
    from biotite.structure.info import get_from_ccd

    atoms = get_from_ccd("chem_comp_atom", comp_id)
    if atoms is None:
        raise KeyError(f"{comp_id!r} is not in the bundled CCD or lists no atoms")
    cols = []
    for dim in "xyz":
        col = atoms[f"model_Cartn_{dim}"]
        values = np.full(col.as_array(str).shape, np.nan)
        present = np.ones(values.shape, bool) if col.mask is None else col.mask.array == 0
        values[present] = col.as_array(str)[present].astype(np.float64)
        cols.append(values)
    return np.stack(cols, axis=1)


def with_model_conformer(mol: Chem.Mol, comp_id: str) -> Chem.Mol | None:
    """A copy of ``mol`` (from :func:`component_to_mol`) whose only conformer holds the
    experimental model coordinates, hydrogens removed (they are often absent from the
    model); ``None`` when a heavy atom has no model coordinate or two heavy atoms
    coincide (placeholder coordinates)."""
    xyz = component_model_coords(comp_id)
    if xyz.shape[0] != mol.GetNumAtoms():
        return None
    heavy = np.array([a.GetAtomicNum() > 1 for a in mol.GetAtoms()])
    if not np.all(np.isfinite(xyz[heavy])):
        return None
    d = np.linalg.norm(xyz[heavy][:, None] - xyz[heavy][None], axis=-1)
    d[np.diag_indices_from(d)] = np.inf
    if d.min() < MIN_ATOM_DISTANCE:
        return None
    out = Chem.Mol(mol)
    out.RemoveAllConformers()
    conf = Chem.Conformer(out.GetNumAtoms())
    for i, p in enumerate(np.nan_to_num(xyz).tolist()):
        conf.SetAtomPosition(i, p)
    conf.Set3D(True)
    out.AddConformer(conf, assignId=True)
    out = Chem.RemoveHs(out, sanitize=False)
    out.SetProp("_Name", comp_id)
    return out


def _check_header(comp_id: str) -> None:
    head = _header(comp_id)
    if head["pdbx_release_status"] != "REL":
        raise CCDFilterError(comp_id, "obsolete", f"status {head['pdbx_release_status']}")
    if head["type"].upper() != "NON-POLYMER":
        raise CCDFilterError(comp_id, "polymer_type", f"type {head['type']!r}")
    if head["pdbx_ideal_coordinates_missing_flag"] == "Y":
        raise CCDFilterError(comp_id, "missing_ideal", "flagged as missing")


def _check_atoms(comp_id: str, array: AtomArray) -> None:
    elements = [_element(e) for e in array.element.tolist()]
    bad = sorted(set(elements) - ALLOWED_ELEMENTS)
    if bad:
        raise CCDFilterError(comp_id, "elements", f"element(s) {bad}")
    heavy = sum(e != "H" for e in elements)
    if not MIN_HEAVY_ATOMS <= heavy <= MAX_HEAVY_ATOMS:
        raise CCDFilterError(
            comp_id, "heavy_atoms", f"{heavy} heavy atoms, outside "
            f"[{MIN_HEAVY_ATOMS}, {MAX_HEAVY_ATOMS}]")
    xyz = np.asarray(array.coord, dtype=np.float64)
    if not np.all(np.isfinite(xyz)):
        raise CCDFilterError(comp_id, "missing_ideal", "non-finite ideal coordinates")
    d = np.sqrt(((xyz[:, None, :] - xyz[None, :, :]) ** 2).sum(-1))
    d[np.diag_indices_from(d)] = np.inf
    if d.min() < MIN_ATOM_DISTANCE:
        raise CCDFilterError(comp_id, "degenerate_coords",
                             f"atoms {d.min():.3f} Å apart (placeholder coordinates)")


def atoms_to_mol(array: AtomArray, comp_id: str = "?") -> Chem.Mol:
    """RDKit molecule of a biotite ``AtomArray`` that holds every hydrogen explicitly.

    Atoms in array order, formal charges from the ``charge`` annotation, Kekulé bond
    orders from the bond list (RDKit perceives aromaticity), the coordinates as one 3D
    conformer (Å) and stereo tags perceived from them.  The component ID is the
    molecule's ``_Name``.

    Raises:
        CCDFilterError: rule ``rdkit`` (conversion or sanitisation failed) or
            ``radicals`` (an atom lacks hydrogens: RDKit leaves radical electrons).
    """
    from biotite.interface.rdkit import to_mol

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            mol = to_mol(array, kekulize=True, explicit_hydrogen=True)
        mol = Chem.RWMol(mol)
        for atom in mol.GetAtoms():
            atom.SetPDBResidueInfo(None)  # keep the molecule small; names are in the CCD
        mol = mol.GetMol()
        Chem.SanitizeMol(mol)
    except (ValueError, RuntimeError, KeyError, Chem.rdchem.MolSanitizeException) as exc:
        raise CCDFilterError(comp_id, "rdkit", str(exc).strip().splitlines()[0][:200]) from exc
    radicals = sum(a.GetNumRadicalElectrons() for a in mol.GetAtoms())
    if radicals:
        raise CCDFilterError(comp_id, "radicals", f"{radicals} radical electron(s)")
    Chem.AssignStereochemistryFrom3D(mol, confId=0, replaceExistingTags=True)
    mol.SetProp("_Name", comp_id)
    return mol


def component_to_mol(comp_id: str, check: bool = True) -> Chem.Mol:
    """RDKit molecule of one CCD component (explicit H, ideal conformer in Å, stereo from 3D).

    Args:
        comp_id: CCD component ID, e.g. ``"STI"`` (imatinib).
        check: apply the per-component filter rules (all of :data:`FILTER_RULES` except
            ``duplicate``, which needs the whole set); ``False`` converts anything that
            RDKit can read.

    Raises:
        KeyError: unknown component.
        CCDFilterError: the first rule the component fails (``rule`` attribute).
    """
    if check:
        _check_header(comp_id)
    array = component_atoms(comp_id)
    if check:
        _check_atoms(comp_id, array)
    mol = atoms_to_mol(array, comp_id)
    if check and len(Chem.GetMolFrags(mol)) > 1:
        raise CCDFilterError(comp_id, "fragments",
                             f"{len(Chem.GetMolFrags(mol))} disconnected fragments")
    return mol


def ccd_stereo_labels(comp_id: str) -> dict[int, str]:
    """CIP labels the CCD itself records (``chem_comp_atom.pdbx_stereo_config``): atom
    index (CCD order, as in :func:`component_to_mol`) -> ``"R"`` or ``"S"``."""
    from biotite.structure.info import get_from_ccd

    atoms = get_from_ccd("chem_comp_atom", comp_id)
    if atoms is None:
        raise KeyError(f"{comp_id!r} has no atoms in the bundled CCD")
    flags = atoms["pdbx_stereo_config"].as_array(str).tolist()
    return {i: f for i, f in enumerate(flags) if f in ("R", "S")}


def inchikey(mol: Chem.Mol) -> str:
    """Standard InChIKey (RDKit's InChI warnings silenced); ``""`` if InChI fails."""
    with BlockLogs():
        return Chem.MolToInchiKey(mol) or ""


def scaffold_key(mol: Chem.Mol) -> str:
    """Group key of the scaffold split.

    The Bemis–Murcko scaffold (ring systems plus the linkers between them, side chains
    removed) as canonical SMILES without stereo, so stereoisomers and molecules that
    differ only in substituents share a key.  Molecules without rings have no scaffold;
    their key is ``"acyclic:"`` plus the connectivity block (first 14 characters) of
    the standard InChIKey, so each acyclic graph is its own group and its stereoisomers
    and protonation states stay together.
    """
    with BlockLogs():  # "not removing hydrogen ... non-tetrahedral stereo"
        heavy = Chem.RemoveHs(mol)
    if heavy.GetRingInfo().NumRings() == 0:
        return "acyclic:" + inchikey(mol)[:14]
    scaffold = MurckoScaffold.GetScaffoldForMol(heavy)
    return Chem.MolToSmiles(scaffold, isomericSmiles=False)


# ---------------------------------------------------------------------------------------
# Filtering the whole CCD
# ---------------------------------------------------------------------------------------


@dataclass
class CCDFilterResult:
    """Outcome of :func:`filter_components`.

    Attributes:
        ids: kept component IDs in CCD order.
        inchikeys, scaffolds, heavy_atoms: per kept ID (:func:`inchikey`,
            :func:`scaffold_key`, heavy-atom count).
        removed: rule -> number of components removed by it (first failing rule).
        removed_ids: rule -> the removed IDs.
        mols: the kept molecules (only with ``keep_mols=True``).
        seconds: wall time.
    """

    ids: list[str]
    inchikeys: list[str]
    scaffolds: list[str]
    heavy_atoms: list[int]
    removed: dict[str, int]
    removed_ids: dict[str, list[str]] = field(repr=False)
    mols: list[Chem.Mol] | None = field(default=None, repr=False)
    seconds: float = 0.0

    @property
    def num_input(self) -> int:
        return len(self.ids) + sum(self.removed.values())


def filter_components(
    ids: Sequence[str] | None = None,
    keep_mols: bool = False,
    progress: Callable[[int], None] | None = None,
) -> CCDFilterResult:
    """Apply every rule of :data:`FILTER_RULES` (about 4 min for the whole CCD on one core).

    Args:
        ids: component IDs to consider (default: the whole bundled CCD), in the order
            that decides which duplicate is kept.
        keep_mols: also return the kept molecules.
        progress: called with the number of components done, every 1,000.
    """
    t0 = time.perf_counter()
    ids = component_ids() if ids is None else list(ids)
    removed_ids: dict[str, list[str]] = {rule: [] for rule in FILTER_RULES}
    kept: list[str] = []
    keys: list[str] = []
    scaffolds: list[str] = []
    heavy: list[int] = []
    mols: list[Chem.Mol] = []
    seen: set[str] = set()
    with BlockLogs():  # thousands of expected valence/kekulisation messages
        for n, comp_id in enumerate(ids):
            if progress is not None and n and n % 1000 == 0:
                progress(n)
            try:
                mol = component_to_mol(comp_id)
            except CCDFilterError as exc:
                removed_ids[exc.rule].append(comp_id)
                continue
            key = inchikey(mol)
            if not key:
                removed_ids["rdkit"].append(comp_id)
                continue
            if key in seen:
                removed_ids["duplicate"].append(comp_id)
                continue
            seen.add(key)
            kept.append(comp_id)
            keys.append(key)
            scaffolds.append(scaffold_key(mol))
            heavy.append(mol.GetNumHeavyAtoms())
            if keep_mols:
                mols.append(mol)
    return CCDFilterResult(
        ids=kept, inchikeys=keys, scaffolds=scaffolds, heavy_atoms=heavy,
        removed={rule: len(v) for rule, v in removed_ids.items()}, removed_ids=removed_ids,
        mols=mols if keep_mols else None, seconds=time.perf_counter() - t0,
    )


# ---------------------------------------------------------------------------------------
# Scaffold split
# ---------------------------------------------------------------------------------------


def scaffold_split(
    ids: Sequence[str],
    groups: Sequence[str] | Sequence[int],
    fractions: dict[str, float] | None = None,
    seed: int = DEFAULT_SEED,
) -> dict[str, list[str]]:
    """Scaffold split: IDs with the same group key (:func:`scaffold_key`) share a part.

    As in chemprop's balanced scaffold split, groups larger than half the test target
    (e.g. the benzene scaffold) go to ``train``; the other groups are shuffled with
    ``numpy.random.default_rng(seed)`` and filled into ``test`` until its target is
    reached, then ``valid``, the rest into ``train``.

    Args:
        ids: component IDs.
        groups: group key per ID (the keys of :func:`scaffold_key`, or their
            :func:`scaffold_groups` numbers, which sort in the same order and so give
            the same split).
        fractions: target fractions of ``valid`` and ``test`` (default 0.1 each).
        seed: shuffling seed.

    Returns:
        ``{"train", "valid", "test"}`` -> sorted IDs.
    """
    if len(ids) != len(groups):
        raise ValueError(f"{len(ids)} ids but {len(groups)} group keys")
    fractions = dict(DEFAULT_FRACTIONS if fractions is None else fractions)
    members: dict[str | int, list[str]] = {}
    for comp_id, key in zip(ids, groups, strict=True):
        members.setdefault(key, []).append(comp_id)
    n = len(ids)
    targets = {"test": fractions["test"] * n, "valid": fractions["valid"] * n}
    names = sorted(members)  # fixed order before shuffling: independent of input order
    big = [k for k in names if len(members[k]) > targets["test"] / 2]
    small = [k for k in names if len(members[k]) <= targets["test"] / 2]
    order = np.random.default_rng(seed).permutation(len(small))
    parts: dict[str, list[str]] = {name: [] for name in SPLIT_NAMES}
    for k in big:
        parts["train"] += members[k]
    for idx in order.tolist():
        group = members[small[idx]]
        if len(parts["test"]) + len(group) <= targets["test"]:
            parts["test"] += group
        elif len(parts["valid"]) + len(group) <= targets["valid"]:
            parts["valid"] += group
        else:
            parts["train"] += group
    return {name: sorted(v) for name, v in parts.items()}


def default_split_path() -> Path:
    """``<repo>/data/ccd_split/split.npz``."""
    return Path(__file__).resolve().parents[3] / "data" / "ccd_split" / "split.npz"


def scaffold_groups(groups: Sequence[str]) -> np.ndarray:
    """``int32 [M]`` group numbers: the rank of each key among the sorted distinct keys."""
    _, inverse = np.unique(np.asarray(list(groups), dtype=str), return_inverse=True)
    return inverse.astype(np.int32)


@dataclass
class CCDSplit:
    """The shipped split: per kept component its part, scaffold group and size.

    Attributes:
        ids: all kept component IDs (CCD order).
        part: ``[M]`` index into :data:`SPLIT_NAMES`.
        group: ``[M]`` scaffold group number (:func:`scaffold_groups` of the
            :func:`scaffold_key` of each ID; the keys themselves are not stored).
        heavy_atoms: ``[M]`` heavy-atom counts.
        meta: provenance (biotite version, CCD snapshot date, seed, filter counts).
    """

    ids: np.ndarray
    part: np.ndarray
    group: np.ndarray
    heavy_atoms: np.ndarray
    meta: dict[str, str]

    def __getitem__(self, name: str) -> list[str]:
        """IDs of part ``name`` (``"train"``, ``"valid"`` or ``"test"``), sorted."""
        if name not in SPLIT_NAMES:
            raise KeyError(f"split must be one of {SPLIT_NAMES}, got {name!r}")
        return sorted(self.ids[self.part == SPLIT_NAMES.index(name)].tolist())

    def as_dict(self) -> dict[str, list[str]]:
        return {name: self[name] for name in SPLIT_NAMES}

    def save(self, path: str | os.PathLike) -> None:
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        extra = {f"meta_{k}": np.array(v) for k, v in self.meta.items()}
        np.savez_compressed(
            path, ids=self.ids.astype(str), part=self.part.astype(np.int8),
            group=self.group.astype(np.int32), heavy_atoms=self.heavy_atoms.astype(np.int16),
            **extra,
        )


def load_ccd_split(path: str | os.PathLike | None = None) -> CCDSplit:
    """The fixed CCD ligand split (``data/ccd_split/split.npz`` by default).

    ``load_ccd_split()["test"]`` gives the sorted test IDs.
    """
    path = default_split_path() if path is None else Path(path)
    if not path.exists():
        raise FileNotFoundError(
            f"{path} not found; build it with `python scripts/build_ccd_split.py`")
    with np.load(path, allow_pickle=False) as f:
        meta = {k[5:]: str(f[k]) for k in f.files if k.startswith("meta_")}
        return CCDSplit(
            ids=f["ids"].astype(str), part=f["part"].astype(np.int64),
            group=f["group"].astype(np.int64), heavy_atoms=f["heavy_atoms"].astype(np.int64),
            meta=meta,
        )


# ---------------------------------------------------------------------------------------
# Molecules of a split, cached
# ---------------------------------------------------------------------------------------


def cache_path() -> Path:
    return cache_dir() / f"ccd_v{CACHE_VERSION}_biotite{biotite_version()}.npz"


def _save_mols(path: Path, ids: Sequence[str], mols: Sequence[Chem.Mol]) -> None:
    """RDKit binary pickles (conformer and stereo tags included) in one CSR byte array."""
    blobs = [np.frombuffer(m.ToBinary(), dtype=np.uint8) for m in mols]
    ptr = np.concatenate([[0], np.cumsum([b.size for b in blobs])]).astype(np.int64)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, suffix=".tmp.npz")
    os.close(fd)
    try:
        np.savez_compressed(
            tmp, version=np.array(CACHE_VERSION), ids=np.asarray(list(ids), dtype=str),
            blob=np.concatenate(blobs) if blobs else np.zeros(0, np.uint8), ptr=ptr,
        )
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)


def _load_mols(path: Path) -> dict[str, bytes]:
    with np.load(path, allow_pickle=False) as f:
        if int(f["version"]) != CACHE_VERSION:
            raise ValueError(f"{path}: cache version {int(f['version'])} != {CACHE_VERSION}")
        ids, blob, ptr = f["ids"].astype(str).tolist(), f["blob"], f["ptr"]
    return {k: blob[ptr[i]:ptr[i + 1]].tobytes() for i, k in enumerate(ids)}


def convert_components(ids: Sequence[str]) -> list[Chem.Mol]:
    """:func:`component_to_mol` of each ID (filter rules not re-applied)."""
    with BlockLogs():
        return [component_to_mol(i, check=False) for i in ids]


class CCDLigands:
    """The molecules of one part of the CCD split, in sorted ID order.

    Args:
        split: ``"train"``, ``"valid"``, ``"test"`` or ``None`` (all kept components).
        limit: only the first ``limit`` IDs.  Without a cache on disk these are
            converted directly (about 3 ms each) and nothing is written, so tests and
            quick runs stay fast.
        use_cache: read, or on first use write, every split molecule to
            :func:`cache_path` (about 2 min to build on one core).
        split_file: a split other than the shipped one.
    """

    def __init__(
        self,
        split: str | None = "test",
        limit: int | None = None,
        use_cache: bool = True,
        split_file: str | os.PathLike | None = None,
    ) -> None:
        sp = load_ccd_split(split_file)
        ids = sorted(sp.ids.tolist()) if split is None else sp[split]
        if limit is not None:
            ids = ids[: int(limit)]
        self.split = split
        self.ids: list[str] = ids
        path = cache_path()
        blobs: dict[str, bytes] | None = None
        if use_cache and path.exists():
            try:
                blobs = _load_mols(path)
            except (ValueError, OSError, KeyError):
                blobs = None
        if blobs is not None and all(i in blobs for i in ids):
            self._mols = [Chem.Mol(blobs[i]) for i in ids]
        elif limit is not None or not use_cache:
            self._mols = convert_components(ids)
        else:
            every = sorted(sp.ids.tolist())
            mols = convert_components(every)
            _save_mols(path, every, mols)
            by_id = dict(zip(every, mols, strict=True))
            self._mols = [by_id[i] for i in ids]

    def __len__(self) -> int:
        return len(self.ids)

    def mol(self, k: int) -> Chem.Mol:
        """Molecule ``k`` (a copy: explicit H, CCD ideal conformer in Å, stereo from 3D)."""
        return Chem.Mol(self._mols[k])

    def __iter__(self) -> Iterator[Chem.Mol]:
        for k in range(len(self)):
            yield self.mol(k)
