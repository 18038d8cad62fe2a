"""Build data/geometry_gate/geometry_gate.json: reference geometry and tolerances of the gate.

    .venv/bin/python scripts/fit_geometry_gate.py [--out data/geometry_gate/geometry_gate.json]
        [--measurements /tmp/gate_measurements.npz] [--model-outputs /tmp/gate_model.npz]
        [--model-molecules 200] [--limit N]

Measures every term of :mod:`molediff.domains.chem.geometry` (bond lengths, bond angles,
closest contacts, planarity, ring piercing) on the DFT geometries of the QM9 train split
(``data/qm9_split``) and the CCD ideal geometries of the CCD train split
(``data/ccd_split``), then fits the *data* tolerances:

- per bond key (element pair, order) and angle key (element, hybridisation, ring class)
  with at least ``--min-count`` examples, both sets pooled: ``center`` = median, ``tol``
  = the ``--q-item`` quantile of ``|value - center|`` rounded up (0.01 Å / 0.5°); angle
  keys are also pooled over central elements (``*:HYB:RING``) for rare elements;
- clash factors (``XX``, ``XH``, ``HH``): the ``--q-mol`` quantile of the per-molecule
  smallest ``d / (r_vdW(i) + r_vdW(j))`` (pairs >= 3 bonds apart), the smaller over the
  two sets, rounded down to 0.05;
- planarity tolerances (aromatic 5/6-rings, amides): the ``--q-plane`` quantile of the
  per-group deviation, rounded up to 0.01 Å.

Then the *sampling margins* (``--model-molecules`` > 0): the bundled checkpoint samples
10 conformers of each of ``--model-molecules`` QM9 validation molecules (stereo-checked,
no geometry gate); the conformers an independent judge calls good (every PoseBusters
``mol`` check except the energy passes, and RDKit re-perceives exactly the input bonds
from the coordinates) are measured against the data tolerances, and each kind's margin
is the ``--q-model`` quantile of how far they lie beyond them (bond margin at least
``--min-bond-margin``).  Final tolerance = data tolerance + margin (clash: factor -
margin).  Fallbacks for keys without data (covalent radii / ideal angles) get the 90th
percentile over the fitted keys of ``|fallback - center| + tol``.

Prints the pass rate of each training set under the final table (the fraction of
molecules whose geometry passes every check) and which checks fail, and the rejection
rate of the calibration samples, and writes the table with those numbers in ``meta``.
About 12 min on one core: measuring 5 min, sampling 4 min, PoseBusters 1 min (the QM9
cache and the CCD ligand cache are built on first use by their loaders: 90 s and 4 min).
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from collections.abc import Iterable
from dataclasses import dataclass
from importlib.metadata import version
from pathlib import Path

import numpy as np
from rdkit import Chem, rdBase

from molediff.domains.chem import geometry as G


@dataclass
class Measurements:
    """Every term of one data set; ``*_mol`` is the molecule number of each item."""

    name: str
    n_mols: int
    bond_key: np.ndarray
    bond_val: np.ndarray
    bond_mol: np.ndarray
    angle_key: np.ndarray
    angle_val: np.ndarray
    angle_mol: np.ndarray
    clash_min: np.ndarray  # [M, 3] per pair class: smallest d / (r_i + r_j); inf if no pair
    plane_kind: np.ndarray
    plane_val: np.ndarray
    plane_mol: np.ndarray
    pierced: np.ndarray  # [M] bonds piercing rings
    ids: np.ndarray  # [M] molecule identifiers (QM9 index, CCD ID)

    def arrays(self, prefix: str) -> dict[str, np.ndarray]:
        return {f"{prefix}_{k}": v for k, v in self.__dict__.items() if k != "name"}

    @classmethod
    def from_npz(cls, f: np.lib.npyio.NpzFile, prefix: str) -> Measurements:
        fields = {k[len(prefix) + 1:]: f[k] for k in f.files if k.startswith(prefix + "_")}
        fields["n_mols"] = int(fields["n_mols"])
        return cls(name=prefix, **fields)


def measure(name: str, mols: Iterable[tuple[str, Chem.Mol]], total: int) -> Measurements:
    """Measure every term of every ``(id, molecule)`` (its first conformer, Å)."""
    cols: dict[str, list] = {k: [] for k in (
        "bond_key", "bond_val", "bond_mol", "angle_key", "angle_val", "angle_mol",
        "clash_min", "plane_kind", "plane_val", "plane_mol", "pierced", "ids")}
    t0 = time.perf_counter()
    m = 0
    for m, (mid, mol) in enumerate(mols):
        pos = mol.GetConformer().GetPositions()
        t = G.topology(mol)
        cols["ids"].append(mid)
        cols["bond_key"] += t.bond_keys
        cols["bond_val"].append(G.bond_lengths(pos, t.bonds))
        cols["bond_mol"].append(np.full(len(t.bond_keys), m))
        cols["angle_key"] += t.angle_keys
        cols["angle_val"].append(G.bond_angles(pos, t.angles))
        cols["angle_mol"].append(np.full(len(t.angle_keys), m))
        ratio = (np.linalg.norm(pos[t.pairs[:, 1]] - pos[t.pairs[:, 0]], axis=-1)
                 / t.pair_rsum) if len(t.pairs) else np.zeros(0)
        row = np.full(3, np.inf)
        for c in range(3):
            sel = t.pair_class == c
            if sel.any():
                row[c] = ratio[sel].min()
        cols["clash_min"].append(row)
        cols["plane_kind"] += t.group_kind
        cols["plane_val"].append(G.plane_deviations(pos, t.groups))
        cols["plane_mol"].append(np.full(len(t.group_kind), m))
        cols["pierced"].append(int(G.ring_piercings(pos, t.rings, t.bonds, t.pierce_mask).sum()))
        if m % 10000 == 0:
            print(f"  {name}: {m}/{total} ({time.perf_counter() - t0:.0f} s)", file=sys.stderr)
    cat = np.concatenate
    return Measurements(
        name=name, n_mols=m + 1,
        bond_key=np.asarray(cols["bond_key"], dtype=str), bond_val=cat(cols["bond_val"]),
        bond_mol=cat(cols["bond_mol"]),
        angle_key=np.asarray(cols["angle_key"], dtype=str), angle_val=cat(cols["angle_val"]),
        angle_mol=cat(cols["angle_mol"]),
        clash_min=np.asarray(cols["clash_min"]),
        plane_kind=np.asarray(cols["plane_kind"], dtype=str), plane_val=cat(cols["plane_val"]),
        plane_mol=cat(cols["plane_mol"]),
        pierced=np.asarray(cols["pierced"]), ids=np.asarray(cols["ids"], dtype=str),
    )


def qm9_train(limit: int | None) -> tuple[Iterable[tuple[str, Chem.Mol]], int]:
    from molediff.domains.chem.qm9 import load_qm9
    from molediff.domains.chem.split import load_split

    data = load_qm9(indices=load_split()["train"])
    n = len(data) if limit is None else min(limit, len(data))
    return ((str(int(data.index[k])), data.mol(k)) for k in range(n)), n


def ccd_train(limit: int | None) -> tuple[Iterable[tuple[str, Chem.Mol]], int]:
    from molediff.domains.chem.ccd import CCDLigands

    ligs = CCDLigands("train", limit=limit)
    return ((ligs.ids[k], ligs.mol(k)) for k in range(len(ligs))), len(ligs)


# --------------------------------------------------------------------------- fitting


def _ceil(x: float, step: float) -> float:
    return round(math.ceil(x / step - 1e-9) * step, 6)


def _floor(x: float, step: float) -> float:
    return round(math.floor(x / step + 1e-9) * step, 6)


def _fit_keys(keys: np.ndarray, vals: np.ndarray, q: float, step: float,
              min_count: int, center_digits: int) -> dict[str, dict[str, float]]:
    out = {}
    order = np.argsort(keys, kind="stable")
    keys, vals = keys[order], vals[order]
    uniq, start = np.unique(keys, return_index=True)
    bounds = [*start.tolist(), len(keys)]
    for k, key in enumerate(uniq.tolist()):
        v = vals[bounds[k]:bounds[k + 1]]
        v = v[np.isfinite(v)]
        if len(v) < min_count:
            continue
        center = float(np.median(v))
        spread = float(np.quantile(np.abs(v - center), q))
        out[key] = {"center": round(center, center_digits),
                    "tol": max(step, _ceil(spread, step)), "n": len(v)}
    return out


def fit_data(sets: list[Measurements], args: argparse.Namespace) -> dict:
    """Reference values and *data* tolerances fitted on ``sets`` (pooled); no margins yet."""
    bk = np.concatenate([s.bond_key for s in sets])
    bv = np.concatenate([s.bond_val for s in sets])
    ak = np.concatenate([s.angle_key for s in sets])
    av = np.concatenate([s.angle_val for s in sets])
    bonds = _fit_keys(bk, bv, args.q_item, 0.01, args.min_count, 3)
    angles = _fit_keys(ak, av, args.q_item, 0.5, args.min_count, 1)
    pooled = np.array(["*:" + k.split(":", 1)[1] for k in ak.tolist()], dtype=str)
    angles |= _fit_keys(pooled, av, args.q_item, 0.5, args.min_count, 1)

    clash = {}
    for c, name in enumerate(G.PAIR_CLASSES):
        qs = [np.quantile(s.clash_min[np.isfinite(s.clash_min[:, c]), c], args.q_mol)
              for s in sets if np.isfinite(s.clash_min[:, c]).any()]
        clash[name] = _floor(min(qs), 0.05)
    planarity = {}
    for kind in ("aromatic", "amide"):
        v = np.concatenate([s.plane_val[s.plane_kind == kind] for s in sets])
        planarity[kind] = _ceil(float(np.quantile(v, args.q_plane)), 0.01)
    table = {"version": 1, "bond": dict(sorted(bonds.items())),
             "angle": dict(sorted(angles.items())), "clash": clash, "planarity": planarity}
    table["fallback"] = _fallback(table)
    return table


def _fallback(table: dict) -> dict[str, float]:
    """Fallback tolerances: what the fitted keys would have needed around the fallback
    value, ``|fallback - center| + tol``, at its 90th percentile over the keys (the
    largest is set by a few exotic keys, e.g. angles across fused 3-rings)."""
    bond_fb = np.quantile([abs(G.fallback_bond_length(k) - e["center"]) + e["tol"]
                           for k, e in table["bond"].items() if not k.endswith(":other")], 0.9)
    angle_fb = np.quantile([abs(G.fallback_angle(k) - e["center"]) + e["tol"]
                            for k, e in table["angle"].items()], 0.9)
    return {"bond_tol": _ceil(float(bond_fb), 0.05), "angle_tol": _ceil(float(angle_fb), 1.0)}


def with_margins(data: dict, margins: dict[str, float]) -> dict:
    """The final table: data tolerances widened by the sampling margins."""
    table = json.loads(json.dumps(data))
    for kind in ("bond", "angle"):
        for entry in table[kind].values():
            entry["data_tol"] = entry["tol"]
            entry["tol"] = round(entry["tol"] + margins[kind], 3)
    table["clash"] = {k: round(max(0.0, v - margins["clash"]), 3) for k, v in data["clash"].items()}
    table["planarity"] = {k: round(v + margins["planarity"], 3)
                          for k, v in data["planarity"].items()}
    table["fallback"] = _fallback(table)
    table["margin"] = margins
    return table


# ----------------------------------------------------------- sampling-noise margins


class _AcceptAll(G.GeometryGate):
    """A gate that passes everything: the calibration needs the model's raw outputs."""

    def plan(self, mol: Chem.Mol) -> G.GeometryPlan:
        plan = G.GeometryPlan.__new__(G.GeometryPlan)
        plan.check = lambda pos: G.GeometryReport(ok=True)  # type: ignore[method-assign]
        return plan


def model_outputs(n_mols: int, k: int, cache: Path | None) -> list[Chem.Mol]:
    """Raw conformers (stereo-checked, no geometry gate) of the bundled model for
    ``n_mols`` QM9 *validation* molecules (drawn with seed 0), ``k`` each, seed 0."""
    if cache is not None and cache.exists():
        with np.load(cache, allow_pickle=False) as f:
            blob, ptr = f["blob"], f["ptr"]
        return [Chem.Mol(blob[ptr[i]:ptr[i + 1]].tobytes()) for i in range(len(ptr) - 1)]
    import torch

    from molediff.domains.chem.qm9 import load_qm9
    from molediff.domains.chem.split import load_split
    from molediff.domains.conformers.generate import BUNDLED_CHECKPOINT, generate_conformers
    from molediff.inference import load_model

    data = load_qm9(indices=load_split()["valid"])
    pick = np.sort(np.random.default_rng(0).choice(len(data), n_mols, replace=False))
    queries = []
    for i in pick.tolist():
        q = data.mol(i)
        q.RemoveAllConformers()
        queries.append(q)
    torch.set_num_threads(1)  # fastest for this small network (see `molediff conformers`)
    model = load_model(BUNDLED_CHECKPOINT)
    model.denoiser.eval()
    t0 = time.perf_counter()
    results = generate_conformers(model.draw, queries, k, seed=0, batch_size=128,
                                  gate=_AcceptAll(table={}), device=model.device)
    print(f"  model: {n_mols * k} conformers in {time.perf_counter() - t0:.0f} s", file=sys.stderr)
    mols = [r.mol for r in results if r.ok]
    if cache is not None:
        blobs = [np.frombuffer(m.ToBinary(), dtype=np.uint8) for m in mols]
        ptr = np.concatenate([[0], np.cumsum([b.size for b in blobs])]).astype(np.int64)
        np.savez_compressed(cache, blob=np.concatenate(blobs), ptr=ptr)
    return mols


def good_conformers(mols: list[Chem.Mol]) -> list[np.ndarray]:
    """Per molecule, per conformer: judged good independently of this gate, i.e. every
    PoseBusters ``mol`` check except the energy passes (bond lengths, 1-3 distances,
    clashes, ring and double-bond flatness) and RDKit re-perceives exactly the input
    bonds from the coordinates."""
    from molediff.domains.conformers.domain import connectivity_matches
    from molediff.domains.conformers.plausibility import MOL_CHECKS, posebusters_checks

    table = posebusters_checks(mols, energy=False)
    checks = [c for c in MOL_CHECKS if c in table.columns]
    pb = table[checks].fillna(True).all(axis=1).to_numpy()
    out, k = [], 0
    for mol in mols:
        n = mol.GetNumConformers()
        conn = [connectivity_matches(mol, c.GetId(), Chem.GetFormalCharge(mol))
                for c in mol.GetConformers()]
        out.append(pb[k:k + n] & np.asarray(conn, dtype=bool))
        k += n
    return out


def excess(mols: list[Chem.Mol], table: dict) -> np.ndarray:
    """``[conformers, 5]``: how far each conformer lies beyond ``table``'s tolerances, per
    kind: bond (Å), angle (degrees), planarity (Å), clash (vdW factor), pierced bonds."""
    factors = np.array([table["clash"][c] for c in G.PAIR_CLASSES])
    rows = []
    for mol in mols:
        plan = G.GeometryPlan(G.topology(mol), table)
        t = plan.terms
        for conf in mol.GetConformers():
            pos = conf.GetPositions()
            dev_b = np.abs(G.bond_lengths(pos, t.bonds) - plan.bond_center) - plan.bond_tol
            dev_a = np.abs(G.bond_angles(pos, t.angles) - plan.angle_center) - plan.angle_tol
            dev_p = G.plane_deviations(pos, t.groups) - plan.group_tol
            ratio = np.linalg.norm(pos[t.pairs[:, 1]] - pos[t.pairs[:, 0]], axis=-1) / t.pair_rsum
            dev_c = factors[t.pair_class] - ratio
            pierced = G.ring_piercings(pos, t.rings, t.bonds, t.pierce_mask).sum()
            rows.append([np.max(d, initial=0.0) for d in (dev_b, dev_a, dev_p, dev_c)]
                        + [float(pierced)])
    return np.maximum(np.asarray(rows, dtype=np.float64).reshape(-1, 5), 0.0)


def calibrate(data: dict, mols: list[Chem.Mol], good: np.ndarray, q_model: float,
              min_bond: float) -> dict[str, float]:
    """Margins: the ``q_model`` quantile, over the good conformers, of how far each kind
    lies beyond the data tolerances (rounded up: 0.01 Å, 1°, 0.01 Å, 0.05); the bond
    margin at least ``min_bond`` Å (the tail of 2,000 samples is a noisy estimate, and
    DFT X–H spreads of ±0.03 Å would otherwise reject a 0.9 Å O–H)."""
    ex = excess(mols, data)[good]
    q = np.quantile(ex, q_model, axis=0)
    return {"bond": max(min_bond, _ceil(q[0], 0.01)), "angle": _ceil(q[1], 1.0),
            "planarity": _ceil(q[2], 0.01), "clash": _ceil(q[3], 0.05)}


def evaluate(s: Measurements, table: dict) -> dict[str, float]:
    """Fraction of ``s``'s molecules passing every check, and failing each kind."""
    fail = {k: np.zeros(s.n_mols, dtype=bool) for k in G.GATE_KINDS}
    uk, inv = np.unique(s.bond_key, return_inverse=True)
    ref = np.array([G.lookup_bond(k, table) for k in uk.tolist()]).reshape(-1, 2)[inv]
    bad = ~(np.abs(s.bond_val - ref[:, 0]) <= ref[:, 1])
    fail["bond"][s.bond_mol[bad]] = True
    uk, inv = np.unique(s.angle_key, return_inverse=True)
    ref = np.array([G.lookup_angle(k, table) for k in uk.tolist()]).reshape(-1, 2)[inv]
    bad = ~(np.abs(s.angle_val - ref[:, 0]) <= ref[:, 1])
    fail["angle"][s.angle_mol[bad]] = True
    factors = np.array([table["clash"][c] for c in G.PAIR_CLASSES])
    fail["clash"] = (s.clash_min < factors[None]).any(1)
    tol = np.array([table["planarity"][k] for k in s.plane_kind.tolist()])
    bad = ~(s.plane_val <= tol)
    fail["planarity"][s.plane_mol[bad]] = True
    fail["ring_piercing"] = s.pierced > 0
    any_fail = np.any(np.stack(list(fail.values())), axis=0)
    out = {"molecules": s.n_mols, "pass_rate": round(1.0 - float(any_fail.mean()), 5)}
    out |= {f"fail_{k}": int(v.sum()) for k, v in fail.items()}
    out["failed_ids"] = s.ids[any_fail][:20].tolist()
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=G.default_table_path())
    ap.add_argument("--measurements", type=Path, default=None,
                    help="npz cache of the measurements (read if it exists, else written)")
    ap.add_argument("--limit", type=int, default=None, help="molecules per set (debugging)")
    ap.add_argument("--q-item", type=float, default=0.9999,
                    help="quantile of |value - center| per bond / angle key (0.9999)")
    ap.add_argument("--q-plane", type=float, default=0.999,
                    help="quantile of the planar groups' deviations (0.999)")
    ap.add_argument("--q-mol", type=float, default=1e-4,
                    help="quantile of the per-molecule closest contacts (1e-4)")
    ap.add_argument("--min-count", type=int, default=50)
    ap.add_argument("--model-molecules", type=int, default=200,
                    help="QM9 validation molecules sampled by the bundled model for the "
                         "sampling margins (10 conformers each; 0: no margins)")
    ap.add_argument("--model-outputs", type=Path, default=None,
                    help="npz cache of those conformers (read if it exists, else written)")
    ap.add_argument("--q-model", type=float, default=0.99,
                    help="quantile of the good samples' excess that the margins cover (0.99)")
    ap.add_argument("--min-bond-margin", type=float, default=0.10,
                    help="smallest bond margin in Å (0.10)")
    args = ap.parse_args()

    if args.measurements is not None and args.measurements.exists():
        with np.load(args.measurements, allow_pickle=False) as f:
            sets = [Measurements.from_npz(f, p) for p in ("qm9", "ccd")]
    else:
        with rdBase.BlockLogs():
            sets = [measure("qm9", *qm9_train(args.limit)), measure("ccd", *ccd_train(args.limit))]
        if args.measurements is not None:
            np.savez_compressed(args.measurements, **sets[0].arrays("qm9"), **sets[1].arrays("ccd"))
    data = fit_data(sets, args)
    calibration: dict[str, object] = {}
    if args.model_molecules > 0:
        with rdBase.BlockLogs():
            mols = model_outputs(args.model_molecules, 10, args.model_outputs)
            good = np.concatenate(good_conformers(mols))
        margins = calibrate(data, mols, good, args.q_model, args.min_bond_margin)
        table = with_margins(data, margins)
        rejected = excess(mols, table).max(axis=1) > 0
        calibration = {
            "samples": "bundled checkpoint, default sampler, seed 0, 10 conformers of each of "
                       f"{args.model_molecules} QM9 validation molecules (stereo-checked)",
            "conformers": int(len(good)), "good": int(good.sum()),
            "good_means": "all PoseBusters mol checks except energy pass and RDKit "
                          "re-perceives the input bonds",
            "q_model": args.q_model, "min_bond_margin": args.min_bond_margin,
            "rejected_good": round(float(rejected[good].mean()), 4),
            "rejected_all": round(float(rejected.mean()), 4),
        }
    else:
        margins = {"bond": 0.0, "angle": 0.0, "planarity": 0.0, "clash": 0.0}
        table = with_margins(data, margins)
    results = {s.name: evaluate(s, table) for s in sets}
    table["meta"] = {
        "built_by": "scripts/fit_geometry_gate.py",
        "data": {"qm9": "QM9 train split DFT geometries (data/qm9_split, qm9pack "
                        f"{version('qm9pack')})",
                 "ccd": "CCD train split ideal geometries (data/ccd_split, biotite "
                        f"{version('biotite')})"},
        "rdkit": version("rdkit"),
        "q_item": args.q_item, "q_plane": args.q_plane, "q_mol": args.q_mol,
        "min_count": args.min_count,
        "margins": margins, "calibration": calibration,
        "data_clash": data["clash"], "data_planarity": data["planarity"],
        "train_pass": {k: {x: y for x, y in v.items() if x != "failed_ids"}
                       for k, v in results.items()},
    }
    table = {"version": table.pop("version"), "meta": table.pop("meta"), **table}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(table, indent=1) + "\n")
    print(json.dumps({k: v for k, v in table.items() if k not in ("bond", "angle")}, indent=1))
    for name, r in results.items():
        print(f"{name}: {r}")
    print(f"wrote {args.out} ({args.out.stat().st_size} bytes; {len(table['bond'])} bond keys, "
          f"{len(table['angle'])} angle keys)")


if __name__ == "__main__":
    main()
