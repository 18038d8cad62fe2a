"""The proteins suite's target table: every verdict follows from the measured values."""

from benchmarks.suites.proteins import target_lines


def _row(name, helix=0.4, strand=0.2, coil=0.4, **kw):
    base = {"name": name, "ca_ca_deviation": 0.01, "ca_ca_valid": 1.0, "clash_free": 1.0,
            "pairwise_tm": 0.3, "helix": helix, "strand": strand, "coil": coil}
    return base | kw


SPECIAL = {"motif_rmsd_max": 1e-7, "C3_symmetry_rmsd_max": 0.0, "D2_symmetry_rmsd_max": 0.0,
           "partial_1A_tm_to_input_mean": 0.9}
SPEED = [{"length": 100, "seconds": 3.0}, {"length": 500, "seconds": 30.0}]
MPNN = [{"nll_excess": 0.05}]


def verdicts(rows, nu=0.38, special=SPECIAL, speed=SPEED, mpnn=MPNN):
    train = _row("training chains", 0.41, 0.21, 0.38)
    lines = target_lines(rows, train, nu, special, speed, mpnn)[2:]
    return {line.split(" | ")[0].lstrip("| "): line.rsplit(" | ", 1)[1].rstrip(" |")
            for line in lines}


def test_all_met_when_designs_look_like_training():
    v = verdicts([_row("designs L=64"), _row("designs L=128"), _row("natives", strand=0.0)])
    assert set(v.values()) == {"met"}, v


def test_each_miss_is_named():
    v = verdicts([_row("designs L=64", strand=0.05, coil=0.55), _row("designs L=128",
                  ca_ca_deviation=0.08, pairwise_tm=0.6)], nu=0.2,
                 special=SPECIAL | {"motif_rmsd_max": 2e-3},
                 speed=[{"length": 100, "seconds": 6.0}, {"length": 500, "seconds": 30.0}],
                 mpnn=[{"nll_excess": 0.4}])
    missed = {k for k, s in v.items() if s == "**not met**"}
    assert {k.split(" ")[0] for k in missed} == {"mean", "helix", "Rg", "ProteinMPNN",
                                                 "motif", "100"}
    assert len(missed) == 7 and v["CA–CA within tolerance >= 98 %"] == "met"


def test_unmeasured_targets_are_not_claimed():
    v = verdicts([_row("designs L=64")], special={"motif_rmsd_max": float("nan"),
                 "C3_symmetry_rmsd_max": 0.0, "D2_symmetry_rmsd_max": 0.0}, mpnn=[],
                 speed=[{"length": 100, "seconds": 3.0}])
    assert v["motif held within 1e-3 Å"] == "n/a"
    assert v["ProteinMPNN NLL within 10 % of natives'"] == "n/a"
    assert v["partial diffusion at 1 Å: TM >= 0.8 to the input"] == "n/a"
    assert v["100 residues < 5 s, 500 < 60 s per design (sampling)"] == "n/a"
