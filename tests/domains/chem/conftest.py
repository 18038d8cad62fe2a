"""Shared fixtures: a few hundred QM9 molecules, processed once per session (no full cache)."""

from __future__ import annotations

import pytest

from molediff.domains.chem.qm9 import QM9Data, load_qm9


@pytest.fixture(scope="session")
def qm9_small() -> QM9Data:
    return load_qm9(limit=300, use_cache=False)
