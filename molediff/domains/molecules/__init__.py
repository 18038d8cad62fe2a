"""De novo 3D molecule generation (EDM-style, QM9): bond rules, metrics and file output."""

from molediff.domains.molecules.metrics import (
    corrected_stability,
    edm_stability,
    evaluate_molecules,
)

__all__ = ["corrected_stability", "edm_stability", "evaluate_molecules"]
