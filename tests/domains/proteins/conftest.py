from __future__ import annotations

import numpy as np
import pytest

from molediff.domains.proteins.data import load_chains
from molediff.domains.proteins.io import pdb_text


@pytest.fixture(scope="session")
def native_test_chains():
    """Held-out (test-part) native backbones of the shipped data."""
    return load_chains("test", limit=40)


@pytest.fixture(scope="session")
def native_pdb(tmp_path_factory, native_test_chains):
    """A native test chain written as a PDB file (chain A, residues 1..L)."""
    bb = native_test_chains.coords[0]
    path = tmp_path_factory.mktemp("native") / "native.pdb"
    path.write_text(pdb_text(bb, np.zeros(len(bb), dtype=int)))
    return path
