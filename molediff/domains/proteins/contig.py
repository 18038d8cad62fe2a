"""RFdiffusion's contig syntax: which residues to build and which to keep from an input.

A contig string lists segments separated by ``/``:

- ``A15-30``: motif residues 15..30 of chain A of the input structure, kept exactly
  (``A15`` alone is one residue);
- ``10-20``: 10 to 20 new residues (the length is drawn per design; ``12`` alone is
  exactly 12);
- ``0`` followed by a space (``.../0 B1-40/...``): a chain break; the segments after it
  form the next chain of the design (a plain space between segments works too).

Examples: ``'10-20/A15-30/30-40'`` (scaffold residues 15–30 of chain A with 10–20 new
residues before and 30–40 after), ``'A1-50/0 20-30'`` (chain A1–50 kept as chain A of
the design plus a new 20–30-residue chain B).

:func:`parse_contig` checks the syntax, :func:`check_motif` the motif against the input
structure and :func:`check_lengths` that the lengths can fit a total length range; each
raises :class:`~molediff.utils.errors.UsageError` (or ``InputError`` for the structure)
with one message naming the offending segment, before any sampling.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

import numpy as np

from molediff.utils.errors import InputError, UsageError

_MOTIF = re.compile(r"^([A-Za-z])(-?\d+)(?:-(-?\d+))?$")
_NEW = re.compile(r"^(\d+)(?:-(\d+))?$")
_CHAIN_BREAK = re.compile(r"/0\s+|\s+")


@dataclass(frozen=True)
class Segment:
    """One contig segment: motif residues ``chain start..end`` of the input (inclusive,
    PDB residue numbers), or ``min_len..max_len`` new residues."""

    text: str
    chain: str | None = None
    start: int = 0
    end: int = 0
    min_len: int = 0
    max_len: int = 0

    @property
    def is_motif(self) -> bool:
        return self.chain is not None

    @property
    def motif_length(self) -> int:
        return self.end - self.start + 1 if self.is_motif else 0


@dataclass
class Contig:
    """A parsed contig: ``chains[c]`` is the list of segments of design chain ``c``."""

    text: str
    chains: list[list[Segment]] = field(default_factory=list)

    @property
    def segments(self) -> list[Segment]:
        return [s for ch in self.chains for s in ch]

    @property
    def has_motif(self) -> bool:
        return any(s.is_motif for s in self.segments)

    def length_bounds(self) -> tuple[int, int]:
        """Smallest and largest total design length the contig allows."""
        lo = sum(s.motif_length if s.is_motif else s.min_len for s in self.segments)
        hi = sum(s.motif_length if s.is_motif else s.max_len for s in self.segments)
        return lo, hi


def parse_contig(text: str) -> Contig:
    """Parse a contig string (syntax only). Raises :class:`UsageError` with the offending
    segment on empty input, an unknown token, a reversed or empty range, or a chain with
    no segment."""
    if not isinstance(text, str) or not text.strip():
        raise UsageError("design.contig is empty; give segments like '10-20/A15-30/30-40'")
    body = text.strip().strip("[]'\"").strip()
    if body.endswith("/0"):
        body = body[:-2]  # a chain break with no chain after it
    chains: list[list[Segment]] = []
    for part in _CHAIN_BREAK.split(body):
        tokens = [t for t in part.split("/")]
        if part == "" or any(t == "" for t in tokens):
            raise UsageError(f"contig {text!r}: empty segment (two '/' in a row, or a "
                             "leading / trailing '/')")
        if tokens == ["0"]:
            continue  # a '/0' at the very end
        segs = []
        for tok in tokens:
            if tok == "0":
                raise UsageError(f"contig {text!r}: a chain break is '/0 ' followed by a "
                                 "space and the next chain's segments")
            segs.append(_segment(tok, text))
        chains.append(segs)
    if not chains:
        raise UsageError(f"contig {text!r} has no segments")
    contig = Contig(text=text, chains=chains)
    seen: dict[tuple[str, int], str] = {}
    for s in contig.segments:
        for r in range(s.start, s.end + 1) if s.is_motif else ():
            key = (s.chain or "", r)
            if key in seen:
                raise UsageError(f"contig {text!r}: residue {s.chain}{r} is used twice "
                                 f"({seen[key]} and {s.text})")
            seen[key] = s.text
    return contig


def _segment(tok: str, text: str) -> Segment:
    m = _MOTIF.match(tok)
    if m:
        start = int(m.group(2))
        end = int(m.group(3)) if m.group(3) is not None else start
        if end < start:
            raise UsageError(f"contig {text!r}: segment {tok!r} runs backwards "
                             f"({start} > {end}); write {m.group(1)}{end}-{start}")
        return Segment(text=tok, chain=m.group(1).upper(), start=start, end=end)
    m = _NEW.match(tok)
    if m:
        lo = int(m.group(1))
        hi = int(m.group(2)) if m.group(2) is not None else lo
        if hi < lo:
            raise UsageError(f"contig {text!r}: length range {tok!r} runs backwards "
                             f"({lo} > {hi})")
        if hi == 0:
            raise UsageError(f"contig {text!r}: length range {tok!r} builds no residue")
        return Segment(text=tok, min_len=lo, max_len=hi)
    raise UsageError(
        f"contig {text!r}: cannot read segment {tok!r}; expected a length range like "
        "'10-20', motif residues like 'A15-30' (chain letter + input residue numbers), "
        "or '0 ' for a chain break")


def check_lengths(contig: Contig, length_range: tuple[int, int] | None,
                  max_length: int) -> None:
    """Raise :class:`UsageError` unless some choice of segment lengths gives a total in
    ``length_range`` (inclusive) and at most ``max_length`` residues."""
    lo, hi = contig.length_bounds()
    if length_range is not None:
        want_lo, want_hi = length_range
        if hi < want_lo or lo > want_hi:
            raise UsageError(
                f"contig {contig.text!r} gives {lo}-{hi} residues, which cannot fit "
                f"design.length={want_lo}-{want_hi}")
    if lo > max_length:
        raise UsageError(f"contig {contig.text!r} needs at least {lo} residues; the model "
                         f"designs at most {max_length}")


def check_motif(contig: Contig, residues: dict[str, np.ndarray]) -> None:
    """Raise :class:`InputError` naming every motif residue absent from the input
    (``residues[chain]`` = residue numbers that have all four backbone atoms)."""
    if not contig.has_motif:
        return
    missing: list[str] = []
    for s in contig.segments:
        if not s.is_motif:
            continue
        have = residues.get(s.chain or "")
        if have is None:
            chains = ", ".join(sorted(residues)) or "none"
            raise InputError(f"contig segment {s.text!r} names chain {s.chain}, which the "
                             f"input structure does not have (chains: {chains})")
        absent = sorted(set(range(s.start, s.end + 1)) - set(have.tolist()))
        if absent:
            shown = ", ".join(f"{s.chain}{r}" for r in absent[:8])
            more = f" and {len(absent) - 8} more" if len(absent) > 8 else ""
            missing.append(f"{s.text}: {shown}{more}")
    if missing:
        raise InputError("motif residues absent from the input structure (or missing "
                         "N/CA/C/O atoms): " + "; ".join(missing))


def sample_lengths(contig: Contig, rng: np.random.Generator,
                   length_range: tuple[int, int] | None, tries: int = 1000) -> list[int]:
    """One length per segment (motif segments keep their own), drawn uniformly per new
    segment and redrawn until the total lies in ``length_range``."""
    segs = contig.segments
    for _ in range(tries):
        out = [s.motif_length if s.is_motif else int(rng.integers(s.min_len, s.max_len + 1))
               for s in segs]
        total = sum(out)
        if length_range is None or length_range[0] <= total <= length_range[1]:
            return out
    raise UsageError(f"contig {contig.text!r}: no draw of segment lengths within "
                     f"design.length={length_range[0]}-{length_range[1]} after {tries} tries")


__all__ = ["Segment", "Contig", "parse_contig", "check_lengths", "check_motif",
           "sample_lengths"]
