"""The contig parser accepts RFdiffusion's documented forms and rejects the common mistakes
with a message naming the segment."""

from __future__ import annotations

import numpy as np
import pytest

from molediff.domains.proteins.contig import (
    check_lengths,
    check_motif,
    parse_contig,
    sample_lengths,
)
from molediff.utils.errors import InputError, UsageError


def test_scaffolding_contig():
    c = parse_contig("10-20/A15-30/30-40")
    (a, m, b), = c.chains
    assert (a.min_len, a.max_len) == (10, 20) and not a.is_motif
    assert m.is_motif and (m.chain, m.start, m.end, m.motif_length) == ("A", 15, 30, 16)
    assert (b.min_len, b.max_len) == (30, 40)
    assert c.length_bounds() == (56, 76)


@pytest.mark.parametrize("text,chains,bounds", [
    ("A1-50/0 20-30", 2, (70, 80)),          # chain break: motif chain + new chain
    ("[5-10/B7/5-10]", 1, (11, 21)),         # brackets and a single motif residue
    ("12", 1, (12, 12)),                     # an exact length
    ("10-20/A15-30/0 B1-10", 2, (36, 46)),
    ("10/A1-5/0", 1, (15, 15)),              # a trailing '/0' is no extra chain
])
def test_documented_forms(text, chains, bounds):
    c = parse_contig(text)
    assert len(c.chains) == chains and c.length_bounds() == bounds


@pytest.mark.parametrize("text,fragment", [
    ("", "empty"),
    ("10-20//30", "empty segment"),
    ("10-20/A30-15", "runs backwards"),
    ("20-10", "runs backwards"),
    ("10-20/A15-30/xyz", "cannot read segment 'xyz'"),
    ("10-20/AB15-30", "cannot read segment"),
    ("0", "no segments"),
    ("0-0", "builds no residue"),
    ("10/0/10", "chain break"),
    ("A5-10/A8-12", "used twice"),
    ("10-20/", "empty segment"),
])
def test_rejected_forms(text, fragment):
    with pytest.raises(UsageError, match=fragment):
        parse_contig(text)


def test_lengths_must_fit_the_total_range():
    c = parse_contig("10-20/A15-30/30-40")
    check_lengths(c, (60, 70), 1000)
    with pytest.raises(UsageError, match="cannot fit design.length=100-120"):
        check_lengths(c, (100, 120), 1000)
    with pytest.raises(UsageError, match="at most 50"):
        check_lengths(c, None, 50)


def test_motif_residues_must_exist_in_the_input():
    c = parse_contig("5/A3-6/5")
    check_motif(c, {"A": np.arange(1, 10)})
    with pytest.raises(InputError, match="A5, A6"):
        check_motif(c, {"A": np.array([1, 2, 3, 4])})
    with pytest.raises(InputError, match="names chain A.*chains: B"):
        check_motif(c, {"B": np.arange(1, 10)})


def test_sampled_lengths_respect_segments_and_total():
    c = parse_contig("10-20/A15-30/30-40")
    rng = np.random.default_rng(0)
    for _ in range(50):
        a, m, b = sample_lengths(c, rng, (60, 62))
        assert 10 <= a <= 20 and m == 16 and 30 <= b <= 40 and 60 <= a + m + b <= 62
