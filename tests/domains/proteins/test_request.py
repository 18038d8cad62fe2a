"""Impossible requests fail before sampling; possible ones plan designs as asked."""

from __future__ import annotations

import numpy as np
import pytest

from molediff.domains.proteins.io import read_backbone
from molediff.domains.proteins.request import build_request, parse_length
from molediff.utils.errors import InputError, UsageError


@pytest.mark.parametrize("value,want", [(100, (100, 100)), ("80-120", (80, 120)),
                                        ([50, 60], (50, 60)), (None, None)])
def test_parse_length(value, want):
    assert parse_length(value) == want


@pytest.mark.parametrize("value", ["abc", "120-80", 0, "1-2-3", True])
def test_bad_lengths(value):
    with pytest.raises(UsageError, match="design.length"):
        parse_length(value)


def test_symmetry_order_must_divide_the_length():
    with pytest.raises(UsageError, match="3 copies, which do not divide 100"):
        build_request(length=100, symmetry="C3")
    with pytest.raises(UsageError, match="4 copies"):
        build_request(length="101-103", symmetry="D2")
    req = build_request(length="100-110", symmetry="C3")
    for seed in range(5):
        p = req.plan(np.random.default_rng(seed))
        assert p.length % 3 == 0 and p.copies == 3
        assert np.bincount(p.chain).tolist() == [p.length // 3] * 3


def test_contig_requests(native_pdb):
    bb = read_backbone(native_pdb)
    with pytest.raises(UsageError, match="design.input"):
        build_request(contig="10/A5-10/10")
    with pytest.raises(InputError, match="A900"):
        build_request(contig="10/A899-900/10", structure=bb)
    with pytest.raises(UsageError, match="cannot fit"):
        build_request(contig="10-20/A5-10/10-20", length=200, structure=bb)
    req = build_request(contig="10-20/A5-10/0 5", structure=bb)
    p = req.plan(np.random.default_rng(0))
    assert p.motif.sum() == 6 and np.bincount(p.chain)[1] == 5
    assert np.allclose(p.known[p.motif], bb.select("A", 5, 10))


def test_partial_and_missing_settings(native_pdb):
    bb = read_backbone(native_pdb)
    with pytest.raises(UsageError, match="needs an input"):
        build_request(partial_sigma=2.0)
    with pytest.raises(UsageError, match="> 0"):
        build_request(partial_sigma=0.0, structure=bb)
    with pytest.raises(UsageError, match="give design.length"):
        build_request()
    with pytest.raises(UsageError, match="at most 50"):
        build_request(length=60, max_length=50)
    req = build_request(partial_sigma=1.5, structure=bb)
    p = req.plan(np.random.default_rng(0))
    assert p.length == len(bb.coords) and np.array_equal(p.start, bb.coords)
