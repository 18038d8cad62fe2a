"""A design request, checked before any sampling, and the per-design plans drawn from it.

:func:`build_request` turns the user's settings (length or length range, contig, symmetry,
input structure, partial-diffusion noise level) into a :class:`DesignRequest`, raising one
:class:`~molediff.utils.errors.UsageError` / ``InputError`` for every impossible request:
a malformed contig, motif residues absent from the input, a motif that spans a chain
break of the input, lengths that cannot fit the contig or the model's length limit, a
symmetry whose order does not divide the length, a missing input structure.

:meth:`DesignRequest.plan` draws one :class:`DesignPlan` (chain layout, motif residues and
their coordinates, symmetry copies, starting structure) from a seeded generator, so a
design's layout depends only on the seed and its index.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from molediff.domains.proteins.contig import (
    Contig,
    check_lengths,
    check_motif,
    check_motif_gaps,
    parse_contig,
    sample_lengths,
)
from molediff.domains.proteins.io import Backbone
from molediff.domains.proteins.symmetry import group_order, parse_symmetry
from molediff.utils.errors import UsageError


def parse_length(value: Any) -> tuple[int, int] | None:
    """``100`` -> ``(100, 100)``, ``'80-120'`` / ``[80, 120]`` -> ``(80, 120)``, ``None``
    -> ``None``; raises :class:`UsageError` on anything else."""
    if value is None or (isinstance(value, str) and value.strip().lower() in ("", "null", "none")):
        return None
    try:
        if isinstance(value, int | np.integer) and not isinstance(value, bool):
            lo = hi = int(value)
        elif isinstance(value, str):
            parts = value.strip().split("-")
            if len(parts) == 1:
                lo = hi = int(parts[0])
            elif len(parts) == 2:
                lo, hi = int(parts[0]), int(parts[1])
            else:
                raise ValueError
        elif isinstance(value, list | tuple) or hasattr(value, "__len__"):
            vals = [int(v) for v in value]
            if len(vals) != 2:
                raise ValueError
            lo, hi = vals
        else:
            raise ValueError
    except (TypeError, ValueError):
        raise UsageError(f"design.length={value!r}: expected a number of residues (100) or a "
                         "range (80-120)") from None
    if lo < 1 or hi < lo:
        raise UsageError(f"design.length={value!r}: need 1 <= min <= max")
    return lo, hi


@dataclass
class DesignPlan:
    """One design's layout. ``chain [L]`` chain number of each residue; ``motif [L]``
    residues held fixed with coordinates ``known [L, 4, 3]`` (Å; rows of other residues
    unused); ``start [L, 4, 3]`` the structure partial diffusion starts from; ``copies``
    symmetry copies (1: none)."""

    chain: np.ndarray
    motif: np.ndarray
    known: np.ndarray | None = None
    start: np.ndarray | None = None
    copies: int = 1
    segments: list[str] = field(default_factory=list)

    @property
    def length(self) -> int:
        return len(self.chain)


@dataclass
class DesignRequest:
    """What to design (validated). See :func:`build_request`."""

    length_range: tuple[int, int] | None
    contig: Contig | None
    symmetry: tuple[str, int] | None
    structure: Backbone | None
    partial_sigma: float | None
    #: longest design the model accepts (residues, all chains); caps drawn contig totals
    max_length: int = 1000

    @property
    def mode(self) -> str:
        if self.partial_sigma is not None:
            return "partial"
        if self.contig is not None:
            return "contig"
        if self.symmetry is not None:
            return "symmetric"
        return "unconditional"

    def settings(self) -> dict[str, str]:
        """The request as ``key: value`` strings (PDB REMARK lines, CSV)."""
        out = {"mode": self.mode}
        if self.length_range is not None:
            lo, hi = self.length_range
            out["length"] = str(lo) if lo == hi else f"{lo}-{hi}"
        if self.contig is not None:
            out["contig"] = self.contig.text
        if self.symmetry is not None:
            out["symmetry"] = f"{self.symmetry[0]}{self.symmetry[1]}"
        if self.structure is not None:
            out["input"] = self.structure.source
        if self.partial_sigma is not None:
            out["partial_sigma"] = f"{self.partial_sigma:g}"
        return out

    def plan(self, rng: np.random.Generator) -> DesignPlan:
        """Draw one design's layout."""
        if self.partial_sigma is not None:
            assert self.structure is not None
            return DesignPlan(chain=self.structure.chain_index(),
                              motif=np.zeros(len(self.structure.coords), dtype=bool),
                              start=self.structure.coords.copy())
        if self.contig is not None:
            return self._plan_contig(rng)
        assert self.length_range is not None
        g = group_order(self.symmetry) if self.symmetry else 1
        lo, hi = self.length_range
        choices = np.arange(lo, hi + 1)
        choices = choices[choices % g == 0]
        total = int(rng.choice(choices))
        chain = np.repeat(np.arange(g), total // g)
        return DesignPlan(chain=chain, motif=np.zeros(total, dtype=bool), copies=g)

    def _plan_contig(self, rng: np.random.Generator) -> DesignPlan:
        contig = self.contig
        assert contig is not None
        lengths = iter(sample_lengths(contig, rng, self.length_range, self.max_length))
        chain, motif, known, segs = [], [], [], []
        for c, segments in enumerate(contig.chains):
            for s in segments:
                n = next(lengths)
                chain += [c] * n
                motif += [s.is_motif] * n
                if s.is_motif:
                    assert self.structure is not None
                    known.append(self.structure.select(s.chain or "", s.start, s.end))
                    segs.append(s.text)
                else:
                    known.append(np.zeros((n, 4, 3)))
                    segs.append(str(n))
        return DesignPlan(chain=np.array(chain, dtype=np.int64), motif=np.array(motif, dtype=bool),
                          known=np.concatenate(known), segments=segs)


def build_request(*, length: Any = None, contig: str | None = None, symmetry: str | None = None,
                  structure: Backbone | None = None, partial_sigma: float | None = None,
                  max_length: int = 1000) -> DesignRequest:
    """Validate a request (see the module docstring); ``structure`` is the already-read
    input (:func:`~molediff.domains.proteins.io.read_backbone`)."""
    length_range = parse_length(length)
    sym = parse_symmetry(symmetry)
    parsed = parse_contig(contig) if contig not in (None, "") else None
    if partial_sigma is not None:
        partial_sigma = float(partial_sigma)
        if not partial_sigma > 0:
            raise UsageError(f"design.partial_sigma={partial_sigma}: the noise level must be > 0 Å")
        if structure is None:
            raise UsageError("partial diffusion (design.partial_sigma) needs an input structure "
                             "(design.input=FILE.pdb)")
        if parsed is not None or sym is not None:
            raise UsageError("partial diffusion cannot be combined with design.contig or "
                             "design.symmetry")
        n = len(structure.coords)
        if length_range is not None and not length_range[0] <= n <= length_range[1]:
            raise UsageError(f"partial diffusion keeps the input's {n} residues; drop "
                             f"design.length (given {length_range[0]}-{length_range[1]})")
        if n > max_length:
            raise UsageError(f"the input has {n} residues; the model designs at most {max_length}")
        return DesignRequest(None, None, None, structure, partial_sigma, max_length)
    if parsed is not None:
        if sym is not None:
            raise UsageError("motif scaffolding (design.contig) with design.symmetry is not "
                             "supported; give one of them")
        check_lengths(parsed, length_range, max_length)
        if parsed.has_motif:
            if structure is None:
                first = next(s.text for s in parsed.segments if s.is_motif)
                raise UsageError(f"contig segment {first!r} takes motif residues from an input "
                                 "structure: give design.input=FILE.pdb")
            check_motif(parsed, structure.residues())
            check_motif_gaps(parsed, structure)
        return DesignRequest(length_range, parsed, None, structure, None, max_length)
    if length_range is None:
        raise UsageError("give design.length (100, or a range like 80-120), a design.contig, "
                         "or design.input with design.partial_sigma")
    if length_range[1] > max_length:
        raise UsageError(f"design.length={length_range[0]}-{length_range[1]}: the model "
                         f"designs at most {max_length} residues")
    if sym is not None:
        g = group_order(sym)
        lo, hi = length_range
        if not any(n % g == 0 for n in range(lo, hi + 1)):
            what = str(lo) if lo == hi else f"any length in {lo}-{hi}"
            raise UsageError(f"design.symmetry={sym[0]}{sym[1]} has {g} copies, which do not "
                             f"divide {what} (the total length of all copies)")
        if hi // g < 8 or lo // g < 1:
            raise UsageError(f"design.symmetry={sym[0]}{sym[1]}: each of the {g} copies needs "
                             "at least 8 residues")
    return DesignRequest(length_range, None, sym, structure, None, max_length)


__all__ = ["DesignRequest", "DesignPlan", "build_request", "parse_length"]
