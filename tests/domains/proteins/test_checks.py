"""The backbone check passes native held-out chains and catches broken ones."""

from __future__ import annotations

import numpy as np

from molediff.domains.proteins.checks import DEFAULT_CHECK


def test_native_chains_pass(native_test_chains):
    fails = [DEFAULT_CHECK.failures(bb) for bb in native_test_chains.coords]
    assert sum(bool(f) for f in fails) <= 1, fails  # experimental outliers allowed, rarely


def test_broken_backbones_fail(native_test_chains):
    bb = native_test_chains.coords[0].astype(np.float64)
    assert DEFAULT_CHECK.failures(bb) == []
    broken = bb.copy()
    broken[20:] += [0.0, 0.0, 3.0]  # chain break
    assert "ca_ca" in DEFAULT_CHECK.failures(broken)
    stretched = bb.copy()
    stretched[5, 0] += (stretched[5, 0] - stretched[5, 1]) * 0.5  # N–CA 1.46 -> 2.2 Å
    assert "bonds" in DEFAULT_CHECK.failures(stretched)
    on_top = bb.copy()
    on_top[40] = on_top[10] + 0.5
    assert "overlap" in DEFAULT_CHECK.failures(on_top)
    nan = bb.copy()
    nan[3, 2, 1] = np.nan
    assert DEFAULT_CHECK.failures(nan) == ["non_finite"]
    # a separate chain may start anywhere
    assert DEFAULT_CHECK.failures(broken, np.repeat([0, 1], [20, len(bb) - 20])) == []
