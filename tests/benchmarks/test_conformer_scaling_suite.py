"""The conformer scaling suite: its molecules span the size range up to the limit, and
one probe runs the command's path end to end."""

from rdkit import Chem

from benchmarks.suites import conformer_scaling as suite
from molediff.domains.chem.featurize import DEFAULT_MAX_HEAVY_ATOMS


def test_molecules_grow_to_the_heavy_atom_limit():
    mols = suite.molecules(quick=True)
    heavy = [Chem.MolFromSmiles(s).GetNumHeavyAtoms() for _, s in mols]
    assert heavy == sorted(heavy)
    for (lo, hi), n in zip(suite.BANDS[::2], heavy, strict=False):
        assert lo <= n <= hi
    assert mols[-1][0] == "paclitaxel" and heavy[-1] == 62 <= DEFAULT_MAX_HEAVY_ATOMS
    taxol = Chem.MolFromSmiles(suite.PACLITAXEL)
    assert len(Chem.FindMolChiralCenters(taxol, includeUnassigned=True)) == 11


def test_probe_returns_k_conformers_with_time_and_memory():
    row = suite.probe("CC(=O)Nc1ccc(O)cc1")  # paracetamol: routed to the drug model
    assert row["heavy_atoms"] == 11
    assert row["conformers"] == suite.K and row["etkdg_conformers"] == suite.K
    assert row["model"].startswith("conformers_drugs.pt")
    assert 0 < row["seconds"] < suite.TIME_LIMIT and row["message"] is None
    assert row["peak_mib"] >= 0 and row["process_peak_mib"] > row["peak_mib"]
