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
        a, m, b = sample_lengths(c, rng, (60, 62), 1000)
        assert 10 <= a <= 20 and m == 16 and 30 <= b <= 40 and 60 <= a + m + b <= 62


def test_total_length_is_capped_at_the_model_limit():
    """'990-1000/A5-10' fits a 1000-residue model only with 990-994 new residues: the
    check accepts it and every drawn total stays within the limit; contigs or lengths
    that cannot stay within it are refused up front."""
    c = parse_contig("990-1000/A5-10")
    check_lengths(c, None, 1000)
    rng = np.random.default_rng(0)
    totals = {sum(sample_lengths(c, rng, None, 1000)) for _ in range(200)}
    assert totals == set(range(996, 1001))
    with pytest.raises(UsageError, match="needs at least 1001 residues; the model designs "
                                         "at most 1000"):
        check_lengths(parse_contig("995-1000/A5-10"), None, 1000)
    with pytest.raises(UsageError, match="design.length=990-1005: the model designs at most "
                                         "1000"):
        check_lengths(c, (990, 1005), 1000)
    with pytest.raises(UsageError, match="at most 1000"):
        sample_lengths(parse_contig("995-1000/A5-10"), rng, None, 1000)


def test_every_accepted_request_is_sampled_exactly():
    """'1-100/1-100/1-100/A5-10' with a total of 12 leaves 6 residues for three segments
    of at least 1: 10 of the 10**6 combinations, which independent draws hit once in
    100,000 (a 1000-try rejection sampler nearly always gave up). The exact draw never
    fails and picks each of the 10 ways equally often."""
    c = parse_contig("1-100/1-100/1-100/A5-10")
    check_lengths(c, (12, 12), 1000)
    rng = np.random.default_rng(1)
    seen: dict[tuple[int, ...], int] = {}
    for _ in range(3000):
        a, b, d, m = sample_lengths(c, rng, (12, 12), 1000)
        assert m == 6 and min(a, b, d) >= 1 and a + b + d + m == 12
        seen[(a, b, d)] = seen.get((a, b, d), 0) + 1
    assert len(seen) == 10
    assert all(200 < n < 400 for n in seen.values())  # 300 expected each (binomial sd 16)


def test_totals_are_uniform_over_the_allowed_range():
    c = parse_contig("10-20/A15-30/30-40")
    rng = np.random.default_rng(2)
    draws = [sample_lengths(c, rng, None, 1000) for _ in range(4200)]
    totals = np.bincount([sum(x) for x in draws], minlength=77)[56:]
    assert len(totals) == 21 and totals.min() > 130 and totals.max() < 270  # 200 expected
    for a, m, b in draws:
        assert 10 <= a <= 20 and m == 16 and 30 <= b <= 40
    # a total at an end of the range has one split only: 56 = 10 + 16 + 30
    assert all(x == [10, 16, 30] for x in draws if sum(x) == 56)


def test_sampled_lengths_are_deterministic_by_seed():
    c = parse_contig("5-50/A1-10/0 5-50/B3-8/5-50")
    first = [sample_lengths(c, np.random.default_rng(7), (40, 90), 1000) for _ in range(3)]
    again = [sample_lengths(c, np.random.default_rng(7), (40, 90), 1000) for _ in range(3)]
    assert first == again
    other = [sample_lengths(c, np.random.default_rng(8), (40, 90), 1000) for _ in range(3)]
    assert first != other


def test_many_long_segments_are_sampled_exactly():
    """40 segments of 1-100 residues: the number of ways to split a total exceeds 2**64,
    and the draw stays exact (arbitrary-precision counts)."""
    c = parse_contig("/".join(["1-100"] * 40))
    rng = np.random.default_rng(3)
    for _ in range(5):
        out = sample_lengths(c, rng, (900, 1000), 1000)
        assert 900 <= sum(out) <= 1000 and all(1 <= n <= 100 for n in out)
