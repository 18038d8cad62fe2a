"""Images suite: the bundled class-conditional MNIST checkpoint scored by the local CNN
classifier, against held-out real images.

    python -m benchmarks.run --only images [--quick]

Model: ``molediff/checkpoints/images_mnist.pt`` (U-Net, EDM preconditioning, trained on one
CPU core; docs/model_card_images.md), sampled on the CPU with classifier-free guidance.

(a) guidance scale at 20 NFE (DPM-Solver++(2M), Karras grid), scored against the
    *validation* images: the scale is chosen here;
(b) the chosen scale at 20 NFE with more samples, against the *test* images: the headline
    accuracy (fraction of samples the classifier assigns to the requested class), FD and
    KID in the classifier's 128-D feature space;
(c) FD and KID against the test images as the number of denoiser evaluations (NFE) rises
    from 5 to 50, for three samplers (Euler, Heun, DPM-Solver++(2M)) on two sigma grids
    (Karras rho = 7, cosine). Heun takes two evaluations per step (one on the last), so
    its NFE are odd. With classifier-free guidance every evaluation runs the network twice.

FD with tens to hundreds of samples in 128 dimensions is biased upwards (it falls with
the sample count as well as with quality), so compare FD only between rows with the same
count; KID is unbiased, so compare KID across rows with different sample counts. With 40
samples per row both are noisy: differences of a few percent between rows are not
significant. Reference rows: real test images against the validation images
(the floor), uniform noise (the ceiling).
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import torch
from omegaconf import OmegaConf

from molediff.domains.images.domain import ImagesDomain
from molediff.inference import load_model
from molediff.utils.errors import InputError

CHECKPOINT = Path(__file__).resolve().parents[2] / "molediff" / "checkpoints" / "images_mnist.pt"
SCHEDULES = {
    "karras": {"_target_": "molediff.core.schedules.KarrasSchedule", "sigma_min": 0.002,
               "sigma_max": 80.0, "rho": 7.0},
    "cosine": {"_target_": "molediff.core.schedules.CosineSchedule", "s": 0.008,
               "t_min": 1.0e-3, "sigma_max": 80.0},
}
SAMPLERS = ("euler", "heun", "dpmpp_2m")


def _steps_for(sampler: str, nfe: int) -> int:
    return (nfe + 1) // 2 if sampler == "heun" else nfe


def _score(model: Any, domain: ImagesDomain, n: int, seed: int = 0) -> dict[str, float]:
    t0 = time.perf_counter()
    try:
        samples = model.generate(n, seed=seed, batch_size=250)
    except InputError:  # every image failed the check in every round: report, not crash
        nan = float("nan")
        return {"accuracy": nan, "fd": nan, "kid": nan, "nfe": model.stats.get("nfe", nan),
                "num_samples": 0.0, "dropped": float(n), "rejected": nan,
                "seconds": round(time.perf_counter() - t0, 1)}
    seconds = time.perf_counter() - t0
    m = domain.metrics(samples)
    return {"accuracy": m["accuracy"], "fd": m["fd"], "kid": m["kid"], "nfe": model.stats["nfe"],
            "num_samples": m["num_samples"], "dropped": m["dropped"],
            "rejected": sum(v for k, v in m.items() if k.startswith("rejected_")),
            "seconds": round(seconds, 1)}


def _model(sampler: str, steps: int, schedule: str = "karras", scale: float = 2.0) -> Any:
    return load_model(CHECKPOINT, sampler=sampler, steps=steps,
                      schedule=OmegaConf.create(SCHEDULES[schedule]),
                      guidance=OmegaConf.create({"_target_": "molediff.inference.guidance.ClassifierFreeGuidance",
                                                 "scale": scale}))


def run(quick: bool) -> dict[str, Any]:
    """``quick``: 20 samples per grid row and NFE 5 / 20; else 40 per grid row (4 per
    class), 60 per guidance scale, 300 for the headline, NFE 5 / 10 / 20 / 50 (sized for
    one shared CPU core)."""
    torch.set_num_threads(1)
    n_row, n_tune, n_head = (20, 30, 50) if quick else (40, 60, 300)
    nfes = (5, 20) if quick else (5, 10, 20, 50)
    scales = (1.0, 2.0, 3.0) if not quick else (2.0,)
    val = ImagesDomain(reference_part="val")
    test = ImagesDomain(reference_part="test")

    tuning = []
    for scale in scales:
        tuning.append({"scale": scale, **_score(_model("dpmpp_2m", 20, scale=scale), val, n_tune)})
    best = max(tuning, key=lambda r: (r["accuracy"], -r["kid"]))["scale"]

    head = {"sampler": "dpmpp_2m", "schedule": "karras", "scale": best,
            **_score(_model("dpmpp_2m", 20, scale=best), test, n_head, seed=1)}

    grid = []
    for schedule in SCHEDULES:
        for sampler in SAMPLERS:
            for nfe in nfes:
                row = _score(_model(sampler, _steps_for(sampler, nfe), schedule, best), test, n_row, seed=2)
                grid.append({"sampler": sampler, "schedule": schedule, **row})
                print(f"  {schedule:7s} {sampler:9s} NFE {row['nfe']:3.0f}: acc {row['accuracy']:.3f} "
                      f"FD {row['fd']:.2f} KID {row['kid']:.4f} ({row['seconds']} s)", flush=True)

    real = test.images.images["test"][:n_head]
    floor = val.metrics({"images": real, "labels": test.images.labels["test"][:n_head]})
    noise = test.metrics({"images": torch.rand(n_row, 1, 28, 28) * 2 - 1,
                          "labels": torch.arange(n_row) % 10})

    lines = ["(a) guidance scale, DPM-Solver++(2M), 20 NFE, against validation images\n",
             "| scale | samples | accuracy | FD | KID |", "|---|---|---|---|---|"]
    lines += [f"| {r['scale']:g} | {r['num_samples']:.0f} | {r['accuracy']:.3f} | {r['fd']:.2f} | "
              f"{r['kid']:.4f} |" for r in tuning]
    lines += ["", f"(b) headline, scale {best:g}, DPM-Solver++(2M), Karras, 20 NFE, against test images\n",
              "| rows | samples | accuracy | FD | KID | dropped | s |", "|---|---|---|---|---|---|---|",
              f"| molediff images_mnist.pt | {head['num_samples']:.0f} | {head['accuracy']:.3f} | "
              f"{head['fd']:.2f} | {head['kid']:.4f} | {head['dropped']:.0f} | {head['seconds']} |",
              f"| real test vs validation images | {len(real)} | {floor['accuracy']:.3f} | "
              f"{floor['fd']:.2f} | {floor['kid']:.4f} | - | - |",
              f"| uniform noise | {n_row} | {noise['accuracy']:.3f} | {noise['fd']:.2f} | "
              f"{noise['kid']:.4f} | - | - |",
              "", f"(c) FD / KID / accuracy against test images vs NFE ({n_row} samples per row, scale {best:g})\n",
              "| schedule | sampler | " + " | ".join(f"NFE≈{n}" for n in nfes) + " |",
              "|---|---|" + "---|" * len(nfes)]
    for schedule in SCHEDULES:
        for sampler in SAMPLERS:
            rows = [r for r in grid if r["sampler"] == sampler and r["schedule"] == schedule]
            cells = [f"{r['nfe']:.0f}: FD {r['fd']:.1f} / KID {r['kid']:.2f} / acc {r['accuracy']:.2f}"
                     if r["num_samples"] else f"{r['nfe']:.0f}: all {r['dropped']:.0f} failed the check"
                     for r in rows]
            lines.append(f"| {schedule} | {sampler} | " + " | ".join(cells) + " |")
    return {"checkpoint": CHECKPOINT.name, "tuning": tuning, "chosen_scale": best, "headline": head,
            "grid": grid, "real_floor": floor, "noise": noise, "table": "\n".join(lines)}


if __name__ == "__main__":
    import argparse
    import json

    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true")
    print(json.dumps(run(ap.parse_args().quick), indent=1, default=float))
