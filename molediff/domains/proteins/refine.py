"""Backbone geometry refinement: a short restrained minimisation after sampling.

A sampled backbone keeps its fold but gets its covalent geometry pulled to ideal values:
L-BFGS on a restraint energy (Å², float64)

- bonds N–CA, CA–C, C–O and the peptide C–N at Engh & Huber lengths;
- angles as 1–3 distances (N–CA–C, CA–C–N, C–N–CA, CA–C–O, O–C–N);
- trans peptides: consecutive CA–CA at 3.80 Å;
- CA–CA repulsion below 3.8 Å between residues that are not sequence neighbours;
- a weak tether to the sampled coordinates, so the fold is the model's, not the
  minimiser's.

Motif residues are held exactly (zero gradient), and symmetric designs are symmetrised
again afterwards. This is post-processing, not the model: ``designs.csv`` reports the raw
sample's CA–CA deviation, clashes and bond deviation next to the refined ones
(``raw_*`` columns), and the model card gives both.
"""

from __future__ import annotations

import math

import numpy as np
import torch

from molediff.domains.proteins.geometry import CA_CA_IDEAL, IDEAL_ANGLES, IDEAL_BONDS

#: CA–CA distance below which non-neighbouring residues repel, Å
REPULSION_DISTANCE = 3.8
#: weight of the tether to the sampled coordinates (per Å²; bonds have weight 1)
TETHER = 0.01


def _law_of_cosines(a: float, b: float, angle_deg: float) -> float:
    return math.sqrt(a * a + b * b - 2 * a * b * math.cos(math.radians(angle_deg)))


B = IDEAL_BONDS
#: 1–3 distances of the ideal angles, Å
D13 = {
    "N-C": _law_of_cosines(B["N-CA"], B["CA-C"], IDEAL_ANGLES["N-CA-C"]),
    "CA-N+": _law_of_cosines(B["CA-C"], B["C-N"], IDEAL_ANGLES["CA-C-N"]),
    "C-CA+": _law_of_cosines(B["C-N"], B["N-CA"], IDEAL_ANGLES["C-N-CA"]),
    "CA-O": _law_of_cosines(B["CA-C"], B["C-O"], 120.5),
    "O-N+": _law_of_cosines(B["C-O"], B["C-N"], 122.7),
}


def _d(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    return torch.sqrt(((a - b) ** 2).sum(-1) + 1e-12)


def refine_backbone(bb: np.ndarray, chain: np.ndarray, fixed: np.ndarray | None = None,
                    max_iter: int = 200) -> np.ndarray:
    """Refined copy of ``bb [L, 4, 3]`` (Å); ``chain [L]`` chain numbers, ``fixed [L]``
    residues that must not move."""
    x0 = torch.as_tensor(np.asarray(bb), dtype=torch.float64)
    n = x0.shape[0]
    chain_t = torch.as_tensor(np.asarray(chain))
    nxt = chain_t[1:] == chain_t[:-1]
    free = torch.ones(n, 1, 1, dtype=torch.float64)
    if fixed is not None and fixed.any():
        free = torch.as_tensor(~np.asarray(fixed), dtype=torch.float64).reshape(n, 1, 1)
    i, j = torch.triu_indices(n, n, 1)
    far = ((j - i) > 1) | (chain_t[i] != chain_t[j])
    i, j = i[far], j[far]
    x = x0.clone().requires_grad_(True)

    def energy() -> torch.Tensor:
        y = x0 + (x - x0) * free
        N, CA, C, O = y[:, 0], y[:, 1], y[:, 2], y[:, 3]  # noqa: E741 - atom names
        e = ((_d(N, CA) - B["N-CA"]) ** 2).sum() + ((_d(CA, C) - B["CA-C"]) ** 2).sum()
        e = e + ((_d(C, O) - B["C-O"]) ** 2).sum() + ((_d(N, C) - D13["N-C"]) ** 2).sum()
        e = e + ((_d(CA, O) - D13["CA-O"]) ** 2).sum()
        m = nxt.to(y.dtype)
        e = e + (m * (_d(C[:-1], N[1:]) - B["C-N"]) ** 2).sum()
        e = e + (m * (_d(CA[:-1], N[1:]) - D13["CA-N+"]) ** 2).sum()
        e = e + (m * (_d(C[:-1], CA[1:]) - D13["C-CA+"]) ** 2).sum()
        e = e + (m * (_d(O[:-1], N[1:]) - D13["O-N+"]) ** 2).sum()
        e = e + (m * (_d(CA[:-1], CA[1:]) - CA_CA_IDEAL) ** 2).sum()
        if i.numel():
            gap = torch.relu(REPULSION_DISTANCE - _d(CA[i], CA[j]))
            e = e + (gap**2).sum()
        return e + TETHER * ((y - x0) ** 2).sum()

    opt = torch.optim.LBFGS([x], max_iter=max_iter, line_search_fn="strong_wolfe",
                            tolerance_grad=1e-9, tolerance_change=1e-12)

    def closure() -> torch.Tensor:
        opt.zero_grad()
        e = energy()
        e.backward()
        return e

    with torch.enable_grad():
        opt.step(closure)
    out = (x0 + (x.detach() - x0) * free).numpy()
    return out


__all__ = ["refine_backbone", "REPULSION_DISTANCE", "TETHER", "D13"]
