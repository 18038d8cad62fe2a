"""The molecules suite's scoring helper: MMFF-relaxed geometry of a generated molecule."""

import numpy as np

from benchmarks.suites.molecules import relaxed_pair, steps_for
from molediff.domains.chem.qm9 import load_qm9


def test_relaxed_pair_keeps_a_real_molecule_and_refuses_a_broken_one():
    data = load_qm9(limit=30)
    for k in (5, 17, 29):
        rec = data.record(k)
        z, pos = relaxed_pair(rec.z, rec.pos)
        assert sorted(z.tolist()) == sorted(rec.z.tolist())  # complete molecule: no H added
        # MMFF moves a DFT minimum little: bond lengths within a few hundredths of an Å
        d0 = np.linalg.norm(rec.pos[:, None] - rec.pos[None], axis=-1)
        d1 = np.linalg.norm(pos[:, None] - pos[None], axis=-1)
        bonded = (d0 > 0) & (d0 < 1.6)
        assert np.abs(d0 - d1)[bonded].max() < 0.08
    # a carbon with six neighbours at 1.1 Å: no valid molecule, nothing to score
    octa = np.array([[0, 0, 0], [1.1, 0, 0], [-1.1, 0, 0], [0, 1.1, 0], [0, -1.1, 0],
                     [0, 0, 1.1], [0, 0, -1.1]], dtype=float)
    assert relaxed_pair(np.array([6, 1, 1, 1, 1, 1, 1]), octa) is None


def test_steps_for_target_nfe():
    assert steps_for("heun", 25) == 13 and 2 * 13 - 1 == 25
    assert steps_for("dpmpp_2m", 50) == 50
