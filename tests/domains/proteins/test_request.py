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


@pytest.fixture(scope="module")
def gapped_pdb(tmp_path_factory, native_test_chains):
    """A native chain (residues 1..L) with residues 11.. moved 20 Å away: a chain break
    between residues 10 and 11 (CA–CA > 16 Å) with every residue number present."""
    from molediff.domains.proteins.io import pdb_text

    bb = native_test_chains.coords[0].astype(np.float64).copy()
    bb[10:] += [20.0, 0.0, 0.0]
    path = tmp_path_factory.mktemp("gapped") / "gapped.pdb"
    path.write_text(pdb_text(bb, np.zeros(len(bb), dtype=int)))
    return path


def test_motif_across_a_chain_break_is_refused(gapped_pdb):
    bb = read_backbone(gapped_pdb)
    assert any("chain gap" in n for n in bb.notes)
    with pytest.raises(InputError, match=r"spans a chain break.*A5-15 between A10 and A11 "
                                         r"\(\d+\.\d Å\).*'A5-10/\d+-\d+/A11-15'"):
        build_request(contig="5/A5-15/5", structure=bb)
    with pytest.raises(InputError, match="A5-10 joined directly to A11-15, but A10 and A11"):
        build_request(contig="5/A5-10/A11-15/5", structure=bb)
    # the same residues with new residues across the break, or motifs on one side: fine
    for text in ("5/A5-10/4-8/A11-15/5", "5/A12-20/5", "A3-10/5"):
        req = build_request(contig=text, structure=bb)
        assert req.plan(np.random.default_rng(0)).motif.any()


def test_tight_contig_totals_plan_without_failure(native_pdb):
    """Feasible but narrow requests are planned every time, within the model's limit."""
    bb = read_backbone(native_pdb)
    req = build_request(contig="1-100/1-100/1-100/A5-10", length=12, structure=bb)
    for seed in range(20):
        p = req.plan(np.random.default_rng(seed))
        assert p.length == 12 and p.motif.sum() == 6
    req = build_request(contig="990-1000/A5-10", structure=bb)
    lengths = {req.plan(np.random.default_rng(seed)).length for seed in range(30)}
    assert max(lengths) <= 1000 and min(lengths) >= 996
    with pytest.raises(UsageError, match="at most 1000"):
        build_request(contig="995-1000/A5-10", structure=bb)
