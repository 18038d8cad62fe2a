#!/usr/bin/env python
"""Ground-state recall of one conformer checkpoint under several samplers, same molecules.

    python scripts/compare_conformer_samplers.py --n 200 heun:18 \\
        heun:18:s_churn=40:s_tmin=0.002:s_tmax=10 \\
        restart:18:restarts=1:restart_sigma_min=0.1:restart_sigma_max=1.0

Each positional argument is ``sampler:steps[:option=value...]`` (options of the core
sampler, e.g. Heun's churn). The molecules are those of the conformer benchmark suite
(the first ``--n`` of a fixed permutation of a QM9 split: ``--split valid`` for choosing,
the benchmark's ``test`` for reporting), K = 10 conformers each,
seed 0; the table gives mean / median best-of-K heavy-atom RMSD (Å) to the DFT geometry,
the share under 0.5 Å, the mean pairwise RMSD among each molecule's conformers
(diversity, Å), the stereo counters and the generation wall time (one thread).
This is how the bundled checkpoint's sampling default was chosen (model card).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the benchmarks package

from benchmarks.suites.conformers import K  # noqa: E402
from molediff.core.samplers import parse_sampler_option  # noqa: E402
from molediff.domains.conformers.evaluation import queries_of, reference_molecules  # noqa: E402
from molediff.domains.conformers.generate import BUNDLED_CHECKPOINT, summarize  # noqa: E402
from molediff.domains.conformers.metrics import QM9_THRESHOLD, best_of_k_rmsd, ensemble_diversity  # noqa: E402
from molediff.inference import load_model  # noqa: E402


def parse_spec(spec: str) -> tuple[str, int, dict[str, Any]]:
    """``"heun:18:s_churn=40"`` -> ``("heun", 18, {"s_churn": 40.0})`` (integers stay int)."""
    name, _, rest = spec.partition(":")
    steps, *opts = rest.split(":") if rest else ("18",)
    return name, int(steps), dict(parse_sampler_option(opt) for opt in opts)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("samplers", nargs="+", help="sampler:steps[:option=value...]")
    p.add_argument("--n", type=int, default=200, help="molecules (200)")
    p.add_argument("--split", default="test", choices=("train", "valid", "test"),
                   help="QM9 split the molecules come from (test: the benchmark's)")
    p.add_argument("--checkpoint", default=None, help="conformer checkpoint (bundled)")
    args = p.parse_args(argv)
    torch.set_num_threads(1)
    specs = [parse_spec(s) for s in args.samplers]
    refs = reference_molecules(args.n, split=args.split)
    queries = queries_of(refs)
    print("| sampler | steps | options | mean best RMSD (Å) | median | < 0.5 Å | drawn | mirrored "
          "| rejected | dropped | diversity (Å) | seconds |\n|---|---|---|---|---|---|---|---|---|---|---|---|")
    for name, steps, options in specs:
        model = load_model(args.checkpoint or BUNDLED_CHECKPOINT, expect_domain="conformers",
                           sampler=name, steps=steps, sampler_options=options)
        t0 = time.perf_counter()
        results = model.generate(K * len(queries), condition=queries, seed=0, batch_size=100)
        seconds = time.perf_counter() - t0
        best = np.array([best_of_k_rmsd(r, x.mol if x.ok else None)
                         for r, x in zip(refs, results, strict=True)])
        finite = best[np.isfinite(best)]
        spread = np.nanmean([ensemble_diversity(x.mol if x.ok else None) for x in results])
        s = summarize(results)
        opts = ", ".join(f"{k}={v:g}" for k, v in options.items()) or "-"
        print(f"| {name} | {steps} | {opts} | {finite.mean():.3f} | {np.median(finite):.3f} | "
              f"{(best < QM9_THRESHOLD).mean():.2f} | {s['sampled']} | {s['mirrored']} | "
              f"{s['stereo_rejected']} | {s['dropped']} | {spread:.3f} | {seconds:.0f} |", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
