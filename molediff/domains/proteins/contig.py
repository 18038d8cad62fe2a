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
with one message naming the offending segment, before any sampling;
:func:`check_motif_gaps` refuses motifs that span a chain break of the input.

:func:`sample_lengths` draws one design's segment lengths exactly (no rejection loop), so
every request :func:`check_lengths` accepts is sampled without failure: first the total
length, uniformly among the totals the contig, ``design.length`` and the model's length
limit all allow (each such total equally likely, as for a plain ``design.length=80-120``);
then the split of that total over the new-residue segments, uniformly among all
combinations of segment lengths within their ranges that add up to it. With one new
segment its length is therefore uniform in what its range and the total allow. (Drawing
each segment independently instead would favour totals near the middle of the range and
rarely reach the ends.)
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from functools import lru_cache
from typing import TYPE_CHECKING

import numpy as np

from molediff.utils.errors import InputError, UsageError

if TYPE_CHECKING:
    from molediff.domains.proteins.io import Backbone

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


def total_bounds(contig: Contig, length_range: tuple[int, int] | None,
                 max_length: int | None) -> tuple[int, int]:
    """Smallest and largest total design length (residues, all chains) that the contig,
    ``length_range`` (inclusive; ``None``: any) and ``max_length`` (``None``: no limit)
    all allow. Every total in between is reachable, because segment lengths are whole
    ranges of integers. Raises :class:`UsageError` when no total is allowed (see
    :func:`check_lengths`)."""
    lo, hi = contig.length_bounds()
    if max_length is None:
        max_length = max(hi, length_range[1] if length_range is not None else hi)
    if lo > max_length:
        raise UsageError(f"contig {contig.text!r} needs at least {lo} residues; the model "
                         f"designs at most {max_length}")
    if length_range is not None:
        want_lo, want_hi = length_range
        if hi < want_lo or lo > want_hi:
            raise UsageError(
                f"contig {contig.text!r} gives {lo}-{hi} residues, which cannot fit "
                f"design.length={want_lo}-{want_hi}")
        if want_hi > max_length:
            raise UsageError(f"design.length={want_lo}-{want_hi}: the model designs at most "
                             f"{max_length} residues")
        lo, hi = max(lo, want_lo), min(hi, want_hi)
    return lo, min(hi, max_length)


def check_lengths(contig: Contig, length_range: tuple[int, int] | None,
                  max_length: int) -> None:
    """Raise :class:`UsageError` unless some choice of segment lengths gives a total in
    ``length_range`` (inclusive) and at most ``max_length`` residues. A contig whose
    largest total exceeds ``max_length`` but whose smallest fits is accepted: its designs
    are drawn with totals up to ``max_length`` only (:func:`sample_lengths`)."""
    total_bounds(contig, length_range, max_length)


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


def check_motif_gaps(contig: Contig, structure: Backbone) -> None:
    """Raise :class:`InputError` when a motif segment spans a chain break of the input
    (consecutive residues whose CA atoms are more than ``GAP_DISTANCE`` = 4.2 Å apart), or
    when two motif segments are joined directly in the contig although their facing ends
    are that far apart in the input. Such a motif is held fixed with the break in it, so
    the design could only close the break by breaking its own geometry. Call after
    :func:`check_motif` (every motif residue present)."""
    from molediff.domains.proteins.io import GAP_DISTANCE
    from molediff.domains.proteins.space import CA_CHANNEL

    breaks: list[str] = []
    hint = ""
    for segments in contig.chains:
        prev: Segment | None = None
        for s in segments:
            if not s.is_motif:
                prev = None
                continue
            chain = s.chain or ""
            ca = structure.select(chain, s.start, s.end)[:, CA_CHANNEL]
            d = np.linalg.norm(np.diff(ca, axis=0), axis=-1)
            for i in np.flatnonzero(d > GAP_DISTANCE).tolist():
                r = s.start + i
                breaks.append(f"{s.text} between {chain}{r} and {chain}{r + 1} "
                              f"({d[i]:.1f} Å)")
                if not hint:
                    left = f"{chain}{s.start}" + (f"-{r}" if r > s.start else "")
                    right = f"{chain}{r + 1}" + (f"-{s.end}" if s.end > r + 1 else "")
                    hint = (f"; split the segment at the break and build new residues "
                            f"between the parts, e.g. '{left}/{_bridge(d[i])}/{right}'")
            if prev is not None:
                a = structure.select(prev.chain or "", prev.end, prev.end)[0, CA_CHANNEL]
                b = ca[0]
                gap = float(np.linalg.norm(b - a))
                if gap > GAP_DISTANCE:
                    breaks.append(f"{prev.text} joined directly to {s.text}, but "
                                  f"{prev.chain}{prev.end} and {chain}{s.start} are "
                                  f"{gap:.1f} Å apart")
                    if not hint:
                        hint = (f"; put new residues between them, e.g. "
                                f"'{prev.text}/{_bridge(gap)}/{s.text}'")
            prev = s
    if breaks:
        raise InputError(
            f"contig {contig.text!r}: the motif spans a chain break of the input "
            f"(consecutive CA atoms more than {GAP_DISTANCE} Å apart): " + "; ".join(breaks)
            + hint)


def _bridge(distance: float) -> str:
    # a chain of n new residues spans at most (n + 1) x 3.8 Å between the two motif ends
    n = max(1, math.ceil(distance / 3.8) - 1)
    return f"{n}-{n + 5}"


def sample_lengths(contig: Contig, rng: np.random.Generator,
                   length_range: tuple[int, int] | None,
                   max_length: int | None = None) -> list[int]:
    """One length per segment (motif segments keep their own), drawn exactly: the total
    uniformly among the allowed totals (:func:`total_bounds`), then its split uniformly
    among the combinations of new-segment lengths within their ranges that give it (see
    the module docstring). Deterministic for a given ``rng`` state; never fails for a
    request :func:`check_lengths` accepts (raises its :class:`UsageError` otherwise)."""
    segs = contig.segments
    t_lo, t_hi = total_bounds(contig, length_range, max_length)
    total = int(rng.integers(t_lo, t_hi + 1))
    free = [i for i, s in enumerate(segs) if not s.is_motif]
    spans = tuple(segs[i].max_len - segs[i].min_len for i in free)
    extra = _split(spans, total - contig.length_bounds()[0], rng)
    out = [s.motif_length if s.is_motif else s.min_len for s in segs]
    for i, e in zip(free, extra, strict=True):
        out[i] += e
    return out


def _split(spans: tuple[int, ...], slack: int, rng: np.random.Generator) -> list[int]:
    """``e_k`` in ``0..spans[k]`` with ``sum(e) == slack``, uniform over all such vectors:
    each ``e_k`` is drawn in turn with probability proportional to the number of ways the
    remaining segments can absorb the rest."""
    ways = _ways(spans, slack)
    out, rest = [], slack
    for k, span in enumerate(spans):
        u = _below(rng, ways[k][rest])
        for e in range(min(span, rest) + 1):
            u -= ways[k + 1][rest - e]
            if u < 0:
                break
        out.append(e)
        rest -= e
    return out


@lru_cache(maxsize=32)
def _ways(spans: tuple[int, ...], slack: int) -> tuple[tuple[int, ...], ...]:
    """``ways[k][r]``: how many vectors ``e_k.., e_n`` (each within its span) sum to ``r``,
    for ``r`` in ``0..slack``. Exact Python integers: the counts outgrow 64 bits (and
    floats) for many long segments, and exact counts keep the draw exactly uniform."""
    table = [(1,) + (0,) * slack]
    for span in reversed(spans):
        nxt = table[0]
        prefix = [0]
        for v in nxt:
            prefix.append(prefix[-1] + v)
        # sum of nxt[r - span .. r] through prefix sums: O(slack) per segment
        table.insert(0, tuple(prefix[r + 1] - prefix[max(0, r - span)] for r in range(slack + 1)))
    return tuple(table)


def _below(rng: np.random.Generator, n: int) -> int:
    """A uniform integer in ``0..n-1`` for any ``n >= 1``, including above 2**63 (where
    ``rng.integers`` cannot go): random bits, redrawn when ``>= n`` (exact, < 2 draws on
    average)."""
    if n < 2**62:
        return int(rng.integers(n))
    bits = n.bit_length()
    nbytes = (bits + 7) // 8
    while True:
        v = int.from_bytes(rng.bytes(nbytes), "little") >> (8 * nbytes - bits)
        if v < n:
            return v


__all__ = ["Segment", "Contig", "parse_contig", "check_lengths", "check_motif",
           "check_motif_gaps", "sample_lengths", "total_bounds"]
