from __future__ import annotations

import numpy as np

from molediff.domains.chem.qm9 import NUM_MOLECULES, read_qm9_table
from molediff.domains.chem.split import load_split, make_split


def test_shipped_split_is_a_partition_by_inchi():
    split = load_split()
    assert {k: len(v) for k, v in split.items()} == {"train": 100_000, "valid": 17_748,
                                                      "test": 13_083}
    table = read_qm9_table()
    everything = np.concatenate(list(split.values()))
    assert len(everything) == NUM_MOLECULES == len(np.unique(everything))
    assert set(everything.tolist()) == set(table["Index"].tolist())
    inchi = table.set_index("Index")["InChi"]
    groups = {k: set(inchi.loc[v]) for k, v in split.items()}
    assert not groups["train"] & groups["test"]
    assert not groups["train"] & groups["valid"]
    assert not groups["valid"] & groups["test"]


def test_make_split_is_seeded_and_keeps_groups_together():
    idx = np.arange(1000)
    keys = idx // 2  # pairs share a group
    a = make_split(idx, keys, {"valid": 100, "test": 100}, seed=1)
    b = make_split(idx, keys, {"valid": 100, "test": 100}, seed=1)
    c = make_split(idx, keys, {"valid": 100, "test": 100}, seed=2)
    for name in a:
        np.testing.assert_array_equal(a[name], b[name])
        assert np.all(np.isin(a[name] ^ 1, a[name]))  # partner of every member present
    assert not np.array_equal(a["test"], c["test"])
    assert len(a["test"]) == 100 and len(a["valid"]) == 100
