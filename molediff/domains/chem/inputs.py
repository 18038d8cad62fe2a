"""Molecule inputs for the chemistry commands: files of molecules, salts, unspecified stereo.

Reading (:func:`read_molecule_file`):

- ``.smi`` / ``.smiles`` / ``.txt``: one molecule per line, ``SMILES name`` (RDKit's
  convention). The name is the rest of the line after the SMILES and its whitespace, so
  names with spaces (``acetic acid``) survive; on a tab-separated line it is the second
  tab field only, so further columns are not glued onto it. Blank lines and lines
  starting with ``#`` are skipped. A first line whose first token is ``smiles`` (any case)
  and not a valid SMILES is a header and is skipped.
- ``.csv`` / ``.tsv``: the column ``smiles_column``, or else the first column named
  ``smiles``, ``smi`` or ``canonical_smiles`` (case-insensitive); a ``name`` / ``title`` /
  ``id`` column becomes the name. The delimiter of a ``.csv`` is the most frequent of
  ``,`` ``;`` and tab in the header line, because Excel in many European locales writes
  ``;``. Rows with an empty SMILES cell are skipped.
- ``.sdf`` / ``.sd`` / ``.mol``: every record, hydrogens kept, ``_Name`` as the name. A
  record RDKit cannot read is kept with ``mol=None``, its record number in ``source`` and
  the reason in ``error``, so that it is reported per molecule instead of silently
  shifting the numbering of the others.

SMILES are not validated while reading (except to recognise a header line): an invalid
SMILES is the user's data and is reported per molecule by the consumer, which then goes
on with the rest.

Text encoding: UTF-8, with or without a byte-order mark (Excel's "CSV UTF-8" writes one,
which would otherwise end up in the first column name); UTF-16 with a byte-order mark
(Excel's "Unicode text"). A file that is not valid UTF-8 is decoded as Windows-1252, the
Windows superset of Latin-1 that is identical to Latin-1 on every printable character
(it adds ``€`` and typographic quotes where Latin-1 has control codes), but only if the
result is entirely printable text: SMILES are ASCII and only names may carry accented
letters, so a decode that produces control characters means the file is binary or in
another encoding, and it is refused with an :class:`InputError` instead of producing
garbage names. NUL characters are refused in every encoding for the same reason.

Salts and mixtures (:func:`largest_fragment`) and unspecified stereo
(:func:`unspecified_stereo`, :func:`enumerate_stereo`) are helpers for the consumer; the
reader itself leaves the molecules as given.
"""

from __future__ import annotations

import codecs
import csv
import io
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from rdkit import Chem, rdBase
from rdkit.Chem.EnumerateStereoisomers import EnumerateStereoisomers, StereoEnumerationOptions
from rdkit.Chem.MolStandardize import rdMolStandardize

try:
    from molediff.utils.errors import InputError
except ImportError:  # InputError is being added to molediff.utils.errors concurrently
    from molediff.utils.errors import MolediffError

    class InputError(MolediffError):  # type: ignore[no-redef]
        """Input data that cannot be processed: an unreadable file, an unusable molecule."""

        exit_code = 1


__all__ = [
    "CSV_SUFFIXES",
    "SDF_SUFFIXES",
    "SMILES_COLUMNS",
    "NAME_COLUMNS",
    "SMILES_SUFFIXES",
    "InputError",
    "MoleculeInput",
    "enumerate_stereo",
    "largest_fragment",
    "molecules_from_arguments",
    "read_molecule_file",
    "unspecified_stereo",
]

SMILES_SUFFIXES: tuple[str, ...] = (".smi", ".smiles", ".txt")
CSV_SUFFIXES: tuple[str, ...] = (".csv", ".tsv")
SDF_SUFFIXES: tuple[str, ...] = (".sdf", ".sd", ".mol")
#: CSV column names recognised as the SMILES column, in order of preference (lower case)
SMILES_COLUMNS: tuple[str, ...] = ("smiles", "smi", "canonical_smiles")
#: CSV column names recognised as the molecule name, in order of preference (lower case)
NAME_COLUMNS: tuple[str, ...] = ("name", "title", "id")


@dataclass
class MoleculeInput:
    """One molecule as the user gave it.

    Attributes:
        smiles: the SMILES exactly as given (stripped of surrounding whitespace); for an
            SDF record, RDKit's canonical isomeric SMILES of the record (``""`` when the
            record cannot be read).
        name: the name from the file (``.smi`` second field, CSV name column, SDF
            ``_Name``), or None when there is none.
        mol: the RDKit molecule of an SDF record (hydrogens and coordinates as in the
            file); None for SMILES inputs and for unreadable SDF records.
        source: where it came from, for messages: ``"file.smi:12"`` (line), ``"file.csv:5"``
            (line), ``"file.sdf:record 3"`` or ``"argument 1"``.
        error: why an SDF record could not be read (``mol`` is None); None otherwise.
    """

    smiles: str
    name: str | None
    mol: Chem.Mol | None
    source: str
    error: str | None = None


def molecules_from_arguments(smiles: Iterable[str]) -> list[MoleculeInput]:
    """SMILES given on the command line, numbered ``"argument 1"``, ``"argument 2"``, ..."""
    return [
        MoleculeInput(smiles=s.strip(), name=None, mol=None, source=f"argument {k}")
        for k, s in enumerate(smiles, 1)
    ]


def read_molecule_file(path: str | Path, smiles_column: str | None = None) -> list[MoleculeInput]:
    """Read the molecules of a ``.smi`` / ``.csv`` / ``.sdf`` file (formats in the module
    docstring).

    Args:
        path: the file; its extension (case-insensitive) selects the format.
        smiles_column: CSV column holding the SMILES (exact name, or else matched
            case-insensitively); default: the first column named like ``smiles``.

    Returns:
        The molecules in file order, at least one.

    Raises:
        InputError: the file is missing, is a directory, is empty, has an unknown
            extension, is not text in a supported encoding, has no SMILES column (the
            message lists the columns), or holds no molecule. One message, naming the file.
    """
    path = Path(path)
    if not path.exists():
        raise InputError(f"{path}: input file not found")
    if path.is_dir():
        raise InputError(f"{path}: is a directory, not a molecule file")
    suffix = path.suffix.lower()
    if suffix not in SMILES_SUFFIXES + CSV_SUFFIXES + SDF_SUFFIXES:
        raise InputError(
            f"{path}: unknown input format {suffix or '(no extension)'!r}; use "
            + ", ".join(SMILES_SUFFIXES + CSV_SUFFIXES + SDF_SUFFIXES)
        )
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise InputError(f"{path}: cannot read: {exc.strerror or exc}") from exc
    text = _decode(data, path)
    if not text.strip():
        raise InputError(f"{path}: empty file")
    if suffix in SMILES_SUFFIXES:
        items = _read_smiles_lines(text, str(path))
    elif suffix in CSV_SUFFIXES:
        items = _read_csv(text, str(path), smiles_column, tab=suffix == ".tsv")
    else:
        items = _read_sdf(text, str(path))
    if not items:
        hint = " (no SD record found: is it an SD file?)" if suffix in SDF_SUFFIXES else ""
        raise InputError(f"{path}: no molecules in the file{hint}")
    return items


def _decode(data: bytes, path: Path) -> str:
    """File bytes -> text under the encoding rule of the module docstring."""
    if data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        try:
            text = data.decode("utf-16")
        except UnicodeDecodeError as exc:
            raise InputError(f"{path}: not valid UTF-16 text despite its byte-order mark") from exc
    else:
        try:
            # utf-8-sig drops a leading BOM, which would otherwise be glued to the first
            # CSV column name or the first SMILES
            text = data.decode("utf-8-sig")
        except UnicodeDecodeError:
            text = _decode_legacy(data, path)
    if "\x00" in text:
        raise InputError(
            f"{path}: contains NUL characters: a binary file, or UTF-16 without a "
            "byte-order mark? Save it as UTF-8 text"
        )
    return text


def _decode_legacy(data: bytes, path: Path) -> str:
    """Windows-1252 (printable Latin-1 plus ``€`` and typographic quotes), or refuse."""
    hint = "not UTF-8 text and not printable Latin-1 either; save it as UTF-8"
    try:
        text = data.decode("cp1252")
    except UnicodeDecodeError as exc:  # the five bytes cp1252 leaves undefined
        raise InputError(f"{path}: {hint}") from exc
    bad = next((c for c in text if not (c.isprintable() or c in "\t\r\n")), None)
    if bad is not None:
        raise InputError(f"{path}: {hint} (control character {bad!r})")
    return text


def _is_smiles(token: str) -> bool:
    # Parsing a header word makes RDKit log a parse error; the caller has no use for it.
    with rdBase.BlockLogs():
        return Chem.MolFromSmiles(token) is not None


def _read_smiles_lines(text: str, where: str) -> list[MoleculeInput]:
    items: list[MoleculeInput] = []
    first = True
    for lineno, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if "\t" in line:
            fields = [f.strip() for f in line.split("\t")]
            smiles = fields[0]
            name = fields[1] if len(fields) > 1 else ""
        else:
            parts = line.split(None, 1)
            smiles = parts[0]
            name = parts[1].strip() if len(parts) > 1 else ""
        if first:
            first = False
            # Header only on the first molecule line, and only when the word is not
            # itself a molecule: a file may legitimately start with any SMILES.
            if smiles.lower() == "smiles" and not _is_smiles(smiles):
                continue
        items.append(MoleculeInput(smiles=smiles, name=name or None, mol=None,
                                   source=f"{where}:{lineno}"))
    return items


def _match_column(columns: list[str], wanted: Iterable[str]) -> str | None:
    """First of ``columns`` whose stripped lower-cased name is in ``wanted``, by the order
    of ``wanted``."""
    normalised = {c: c.strip().lower() for c in columns}
    for w in wanted:
        for c in columns:
            if normalised[c] == w:
                return c
    return None


def _read_csv(text: str, where: str, smiles_column: str | None, tab: bool) -> list[MoleculeInput]:
    header = text.lstrip("\r\n").splitlines()[0]
    if tab:
        delimiter = "\t"
    else:
        # max() keeps the first on ties, so a header without any delimiter means ","
        delimiter = max(",;\t", key=header.count)
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    columns: list[str] = []
    for row in reader:
        if any(cell.strip() for cell in row):
            # a stray BOM can survive inside a re-saved file: never part of a column name
            columns = [c.replace("\ufeff", "").strip() for c in row]
            break
    listing = ", ".join(repr(c) for c in columns) or "none"
    if smiles_column is not None:
        col = smiles_column if smiles_column in columns else _match_column(
            columns, [smiles_column.strip().lower()])
        if col is None:
            raise InputError(f"{where}: no column {smiles_column!r} (columns: {listing})")
    else:
        col = _match_column(columns, SMILES_COLUMNS)
        if col is None:
            raise InputError(
                f"{where}: no SMILES column (columns: {listing}); name it "
                f"{' / '.join(SMILES_COLUMNS)} or choose one with --smiles-column"
            )
    i_smiles = columns.index(col)
    name_col = _match_column([c for c in columns if c != col], NAME_COLUMNS)
    i_name = columns.index(name_col) if name_col is not None else None
    items: list[MoleculeInput] = []
    for row in reader:
        smiles = row[i_smiles].strip() if i_smiles < len(row) else ""
        if not smiles:
            continue
        name = row[i_name].strip() if i_name is not None and i_name < len(row) else ""
        # line_num is the line the row ends on (quoted cells may span lines)
        items.append(MoleculeInput(smiles=smiles, name=name or None, mol=None,
                                   source=f"{where}:{reader.line_num}"))
    return items


def _sdf_failure(text: str, index: int) -> str:
    """Why record ``index`` could not be read: re-read it unsanitized to get RDKit's reason."""
    raw = Chem.SDMolSupplier()
    raw.SetData(text, sanitize=False, removeHs=False)
    try:
        mol = raw[index]
    except (IndexError, RuntimeError):
        mol = None
    if mol is None:
        return "unreadable SD record (malformed mol block)"
    try:
        Chem.SanitizeMol(mol)
    except Exception as exc:  # RDKit raises several sanitization exception types
        return f"invalid molecule in SD record: {exc}"
    return "unreadable SD record"


def _read_sdf(text: str, where: str) -> list[MoleculeInput]:
    supplier = Chem.SDMolSupplier()
    # removeHs=False: the hydrogens (and their coordinates) are part of the user's input
    supplier.SetData(text, removeHs=False)
    items: list[MoleculeInput] = []
    # Our own per-record message (source + error) replaces RDKit's log lines.
    with rdBase.BlockLogs():
        for index in range(len(supplier)):
            mol = supplier[index]
            source = f"{where}:record {index + 1}"
            if mol is None:
                items.append(MoleculeInput(smiles="", name=None, mol=None, source=source,
                                           error=_sdf_failure(text, index)))
                continue
            name = mol.GetProp("_Name").strip() if mol.HasProp("_Name") else ""
            items.append(MoleculeInput(smiles=Chem.MolToSmiles(mol), name=name or None,
                                       mol=mol, source=source))
    return items


def _note_smiles(mol: Chem.Mol) -> str:
    # explicit hydrogens (SDF input) would make the note unreadable: "[H]N([H])..."
    return Chem.MolToSmiles(Chem.RemoveHs(mol, sanitize=False))


def largest_fragment(mol: Chem.Mol) -> tuple[Chem.Mol, str | None]:
    """Keep the largest organic fragment of a salt or mixture.

    The conformer model places one connected molecule: the fragments of a disconnected
    input (``CC(=O)[O-].[Na+]``) would be generated as one "molecule" with no bond between
    them and land at arbitrary distances, and counter-ions and solvent carry no
    conformational information anyway. So the input is reduced to one fragment, chosen by
    RDKit's ``rdMolStandardize.LargestFragmentChooser(preferOrganic=True)``: a fragment
    with carbon wins over inorganic ones (the acetate, not the sodium; ethanol, not the
    water of ``O.CCO``), then the one with most atoms (hydrogens included), then by
    molecular weight. Of a mixture of organics (``CCO.CCCCCCO``) the larger is kept, which
    may not be what the user meant, hence the note, which the caller should show.

    Returns:
        ``(fragment, note)``: ``mol`` itself and None when it has a single fragment;
        otherwise a new molecule of the kept fragment (stereo tags, explicit hydrogens
        and coordinates of its atoms kept) and a note such as
        ``"kept the largest fragment CC(=O)[O-] of 2 (dropped [Na+])"``.
    """
    frags = Chem.GetMolFrags(mol, asMols=True, sanitizeFrags=False)
    if len(frags) <= 1:
        return mol, None
    chooser = rdMolStandardize.LargestFragmentChooser(preferOrganic=True)
    kept = chooser.choose(mol)
    kept_smiles = _note_smiles(kept)
    dropped = [_note_smiles(f) for f in frags]
    # remove one copy only: "Cl.Cl.NCCN" keeps NCCN and drops both Cl
    if kept_smiles in dropped:
        dropped.remove(kept_smiles)
    note = (f"kept the largest fragment {kept_smiles} of {len(frags)} "
            f"(dropped {'.'.join(dropped)})")
    return kept, note


_STEREO_TYPES = (Chem.StereoType.Atom_Tetrahedral, Chem.StereoType.Bond_Double)


def unspecified_stereo(mol: Chem.Mol) -> int:
    """Number of stereocentres plus stereo double bonds that could be assigned but are not.

    Counted with ``Chem.FindPotentialStereo``, tetrahedral atoms and double bonds only
    (what :func:`enumerate_stereo` can assign). This counts elements, not isomers:
    interdependent ring centres (``CC1CCC(C)CC1``, cis/trans) count 2 but make only 2
    isomers, and any centre counts 1. 0 means the input fixes all of its stereo.
    """
    return sum(
        1
        for info in Chem.FindPotentialStereo(mol)
        if info.type in _STEREO_TYPES and info.specified == Chem.StereoSpecified.Unspecified
    )


def enumerate_stereo(mol: Chem.Mol, max_isomers: int = 32) -> list[Chem.Mol]:
    """The stereoisomers of ``mol`` over its unspecified stereo (``--enumerate-stereo``).

    Without this an unspecified centre comes out of the model either way, differently
    from conformer to conformer; enumerating makes each isomer a molecule of its own.
    Stereo the input specifies is kept (``onlyUnassigned=True``); isomers are unique
    (``unique=True``, so a meso form comes once). When more than ``max_isomers`` exist,
    RDKit's sample of ``max_isomers`` of them is returned, seeded from the molecule so
    that it is the same on every run (compare ``len()`` with
    ``rdkit.Chem.EnumerateStereoisomers.GetStereoisomerCount`` to tell). A molecule with
    nothing unspecified gives a one-element list (a copy).

    Raises:
        ValueError: ``max_isomers`` < 1.
    """
    if max_isomers < 1:
        raise ValueError(f"max_isomers must be >= 1, got {max_isomers}")
    options = StereoEnumerationOptions(onlyUnassigned=True, unique=True, maxIsomers=max_isomers,
                                       tryEmbedding=False)
    return list(EnumerateStereoisomers(mol, options=options))
