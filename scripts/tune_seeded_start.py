"""Choose an ETKDG-seeded conformer model's start (noise level and sampler steps) on CCD
*validation* ligands: COV-R / AMR-R against both references, gate failures and speed for
each setting, next to ETKDGv3 and to the ETKDGv3 starts of the seeded draws, same ligands,
same K, same run.

    python scripts/tune_seeded_start.py molediff/checkpoints/conformers_drugs.pt \
        --ligands 30 --sigmas 0.05,0.1 --sampler heun --steps 6

Ligands: the validation part in a fixed random order (seed 1; the ligands suite draws
its test ligands with seed 0). One JSON line per method on standard output. The
held-out numbers come from ``python -m benchmarks.run --only ligands``, not from this.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.suites._conformer_common import run_etkdg, run_etkdg_starts  # noqa: E402
from benchmarks.suites.ligands import gate_pass_rate, recall  # noqa: E402
from molediff.domains.chem.ccd import (  # noqa: E402
    convert_components,
    load_ccd_split,
    with_model_conformer,
)
from molediff.domains.conformers.evaluation import queries_of  # noqa: E402
from molediff.domains.conformers.generate import summarize  # noqa: E402
from molediff.inference import load_model  # noqa: E402


def _row(name: str, ids, references, gens, seconds: float, **extra) -> dict:
    row = {"method": name, "seconds": round(seconds, 1),
           "conformers": sum(g.GetNumConformers() for g in gens if g is not None),
           "gate_pass": round(gate_pass_rate(gens), 3), **extra}
    for ref_name, refs in references.items():
        r = recall(ids, refs, gens)
        row[ref_name] = {k: round(v, 3) if isinstance(v, float) else v for k, v in r.items()}
    return row


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("checkpoint")
    p.add_argument("--ligands", type=int, default=30)
    p.add_argument("-k", type=int, default=10, help="conformers per ligand (10)")
    p.add_argument("--sigmas", default="0.1", help="comma-separated start levels in Å")
    p.add_argument("--max-pairs", type=int, default=32_768, help="atom pairs per network batch")
    p.add_argument("--sampler", default=None, help="core sampler (the checkpoint's)")
    p.add_argument("--steps", type=int, default=None, help="sampler steps (the checkpoint's)")
    args = p.parse_args(argv)
    torch.set_num_threads(1)
    valid = load_ccd_split()["valid"]
    order = np.random.default_rng(1).permutation(len(valid))[: args.ligands]
    ids = [valid[int(i)] for i in order]
    ideal = convert_components(ids)
    references = {"ideal": ideal,
                  "experimental": [with_model_conformer(m, i) for m, i in zip(ideal, ids, strict=True)]}
    queries = queries_of(ideal)
    gens, sec = run_etkdg(queries, args.k, mmff=False)
    print(json.dumps(_row("ETKDGv3", ids, references, gens, sec)), flush=True)
    gens, sec = run_etkdg_starts(queries, args.k)
    print(json.dumps(_row("ETKDGv3 starts", ids, references, gens, sec)), flush=True)
    model = load_model(args.checkpoint, sampler=args.sampler, steps=args.steps)
    for sigma in (float(s) for s in args.sigmas.split(",")):
        t0 = time.perf_counter()
        res = model.generate(args.k * len(queries), condition=list(queries), seed=0,
                             batch_size=100, start_sigma=sigma, strict=False,
                             max_pairs=args.max_pairs)
        sec = time.perf_counter() - t0
        counts = {k: v for k, v in summarize(res).items() if k.startswith(("gate_", "sampled"))}
        print(json.dumps(_row(f"seeded sigma {sigma:g}, {model.sampler.name} {model.sampler.steps} steps", ids,
                              references, [r.mol if r.ok else None for r in res], sec,
                              counts=counts)), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
