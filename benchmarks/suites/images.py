"""Images suite: the bundled class-conditional MNIST and Fashion-MNIST checkpoints scored
by the local CNN classifier of their data set, against held-out real images.

    python -m benchmarks.run --only images [--quick]

Models: ``molediff/checkpoints/images_mnist.pt`` and ``images_fashion_mnist.pt`` (U-Net, EDM
preconditioning, trained on one CPU core; docs/model_card_images.md), sampled on the CPU
with classifier-free guidance. For each data set:

(a) guidance scale at 20 NFE (DPM-Solver++(2M), Karras grid), scored against the
    *validation* images: of the scales whose accuracy is within 2 points of the best, the
    one with the lowest FD is chosen here;
(b) the chosen scale at 20 NFE with more samples, against the *test* images: the headline
    accuracy (fraction of samples the classifier assigns to the requested class), FD and
    KID in the classifier's 128-D feature space; inpainting: the bottom half of real test
    images redrawn with their own label, and without a label (the null class: the kept top
    half alone has to carry the class);
(c) MNIST only: FD and KID against the test images as the number of denoiser evaluations
    (NFE) rises from 5 to 50, for three samplers (Euler, Heun, DPM-Solver++(2M)) on two
    sigma grids (Karras rho = 7, cosine). Heun takes two evaluations per step (one on the
    last), so its NFE are odd. With classifier-free guidance every evaluation runs the
    network twice.

FD with a hundred samples in 128 dimensions is biased upwards (it falls with the sample
count as well as with quality), so compare FD only between rows with the same count; KID
is unbiased, so compare KID across rows with different sample counts. Reference rows:
real test images against the validation images (the floor, same count as the headline),
uniform noise (the ceiling).
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

CHECKPOINT_DIR = Path(__file__).resolve().parents[2] / "molediff" / "checkpoints"
CHECKPOINTS = {"mnist": CHECKPOINT_DIR / "images_mnist.pt",
               "fashion_mnist": CHECKPOINT_DIR / "images_fashion_mnist.pt"}
SCHEDULES = {
    "karras": {"_target_": "molediff.core.schedules.KarrasSchedule", "sigma_min": 0.002,
               "sigma_max": 80.0, "rho": 7.0},
    "cosine": {"_target_": "molediff.core.schedules.CosineSchedule", "s": 0.008,
               "t_min": 1.0e-3, "sigma_max": 80.0},
}
SAMPLERS = ("euler", "heun", "dpmpp_2m")


def _steps_for(sampler: str, nfe: int) -> int:
    return (nfe + 1) // 2 if sampler == "heun" else nfe


def _score(model: Any, domain: ImagesDomain, n: int, seed: int = 0, **options: Any) -> dict[str, float]:
    t0 = time.perf_counter()
    try:
        samples = model.generate(n, seed=seed, batch_size=250, **options)
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


def _model(checkpoint: Path, sampler: str, steps: int, schedule: str = "karras",
           scale: float = 2.0) -> Any:
    return load_model(checkpoint, sampler=sampler, steps=steps,
                      schedule=OmegaConf.create(SCHEDULES[schedule]),
                      guidance=OmegaConf.create({"_target_": "molediff.inference.guidance.ClassifierFreeGuidance",
                                                 "scale": scale}))


def _inpainting(checkpoint: Path, test: ImagesDomain, scale: float, n: int) -> dict[str, Any]:
    """Accuracy of the true label after redrawing the bottom half of ``n`` real test
    images: with the label as the condition, and with the null label."""
    import tempfile

    from PIL import Image

    from molediff.domains.images.data import to_uint8

    images, labels = test.images.images["test"][:n], test.images.labels["test"][:n]
    out: dict[str, Any] = {"num_images": n}
    with tempfile.TemporaryDirectory() as tmp:
        # guidance scale 0 is the unconditional model: the label is ignored
        for mode, model in (("label", _model(checkpoint, "dpmpp_2m", 20, scale=scale)),
                            ("null", _model(checkpoint, "dpmpp_2m", 20, scale=0.0))):
            hits, t0 = 0, time.perf_counter()
            for i in range(n):
                png = Path(tmp) / f"{i}.png"
                Image.fromarray(to_uint8(images[i, 0])).save(png)
                s = model.generate(1, condition=[int(labels[i])], seed=i, inpaint=str(png), mask="bottom")
                if len(s["images"]):
                    _, pred = test.classifier().embed(s["images"])
                    hits += int(pred[0] == labels[i])
            out[f"accuracy_{mode}"] = hits / n
            out[f"seconds_{mode}"] = round(time.perf_counter() - t0, 1)
    return out


def _choose_scale(tuning: list[dict[str, Any]], slack: float = 0.02) -> float:
    """The guidance scale with the lowest FD among those whose accuracy is within
    ``slack`` of the best: guidance buys recognisability at the price of diversity, so take
    no more of it than the accuracy needs."""
    scored = [r for r in tuning if r["num_samples"]]
    top = max(r["accuracy"] for r in scored)
    return min((r for r in scored if r["accuracy"] >= top - slack), key=lambda r: r["fd"])["scale"]


def _data_set(dataset: str, quick: bool, grid: bool) -> tuple[dict[str, Any], list[str]]:
    checkpoint = CHECKPOINTS[dataset]
    n_row, n_tune, n_head, n_inpaint = (20, 30, 50, 20) if quick else (100, 100, 500, 100)
    nfes = (5, 20) if quick else (5, 10, 20, 50)
    scales = (2.0,) if quick else (1.0, 2.0, 3.0, 4.0)
    val = ImagesDomain(dataset=dataset, reference_part="val")
    test = ImagesDomain(dataset=dataset, reference_part="test")

    tuning = []
    for scale in scales:
        tuning.append({"scale": scale, **_score(_model(checkpoint, "dpmpp_2m", 20, scale=scale), val, n_tune)})
        print(f"  {dataset} scale {scale:g}: {tuning[-1]}", flush=True)
    best = _choose_scale(tuning)

    head = {"sampler": "dpmpp_2m", "schedule": "karras", "scale": best,
            **_score(_model(checkpoint, "dpmpp_2m", 20, scale=best), test, n_head, seed=1)}
    print(f"  {dataset} headline: {head}", flush=True)
    inpainting = _inpainting(checkpoint, test, best, n_inpaint)
    print(f"  {dataset} inpainting: {inpainting}", flush=True)

    rows = []
    for schedule in SCHEDULES if grid else ():
        for sampler in SAMPLERS:
            for nfe in nfes:
                row = _score(_model(checkpoint, sampler, _steps_for(sampler, nfe), schedule, best),
                             test, n_row, seed=2)
                rows.append({"sampler": sampler, "schedule": schedule, **row})
                print(f"  {schedule:7s} {sampler:9s} NFE {row['nfe']:3.0f}: acc {row['accuracy']:.3f} "
                      f"FD {row['fd']:.2f} KID {row['kid']:.4f} ({row['seconds']} s)", flush=True)

    real = test.images.images["test"][:n_head]
    floor = val.metrics({"images": real, "labels": test.images.labels["test"][:n_head]})
    noise = test.metrics({"images": torch.rand(n_row, 1, 28, 28) * 2 - 1,
                          "labels": torch.arange(n_row) % 10})

    lines = [f"### {dataset}", "",
             "(a) guidance scale, DPM-Solver++(2M), 20 NFE, against validation images\n",
             "| scale | samples | accuracy | FD | KID |", "|---|---|---|---|---|"]
    lines += [f"| {r['scale']:g} | {r['num_samples']:.0f} | {r['accuracy']:.3f} | {r['fd']:.2f} | "
              f"{r['kid']:.4f} |" for r in tuning]
    lines += ["", f"(b) headline, scale {best:g}, DPM-Solver++(2M), Karras, 20 NFE, against test images\n",
              "| rows | samples | accuracy | FD | KID | dropped | s |", "|---|---|---|---|---|---|---|",
              f"| molediff {checkpoint.name} | {head['num_samples']:.0f} | {head['accuracy']:.3f} | "
              f"{head['fd']:.2f} | {head['kid']:.4f} | {head['dropped']:.0f} | {head['seconds']} |",
              f"| real test vs validation images | {len(real)} | {floor['accuracy']:.3f} | "
              f"{floor['fd']:.2f} | {floor['kid']:.4f} | - | - |",
              f"| uniform noise | {n_row} | {noise['accuracy']:.3f} | {noise['fd']:.2f} | "
              f"{noise['kid']:.4f} | - | - |",
              "", f"Inpainting (bottom half of {n_inpaint} test images redrawn, 20 NFE): true class "
              f"recognised {inpainting['accuracy_label']:.3f} with the label as the condition, "
              f"{inpainting['accuracy_null']:.3f} without."]
    if rows:
        lines += ["", f"(c) FD / KID / accuracy against test images vs NFE ({n_row} samples per row, "
                  f"scale {best:g})\n",
                  "| schedule | sampler | " + " | ".join(f"NFE≈{n}" for n in nfes) + " |",
                  "|---|---|" + "---|" * len(nfes)]
        for schedule in SCHEDULES:
            for sampler in SAMPLERS:
                cells = [f"{r['nfe']:.0f}: FD {r['fd']:.1f} / KID {r['kid']:.2f} / acc {r['accuracy']:.2f}"
                         if r["num_samples"] else f"{r['nfe']:.0f}: all {r['dropped']:.0f} failed the check"
                         for r in rows if r["sampler"] == sampler and r["schedule"] == schedule]
                lines.append(f"| {schedule} | {sampler} | " + " | ".join(cells) + " |")
    result = {"checkpoint": checkpoint.name, "tuning": tuning, "chosen_scale": best, "headline": head,
              "inpainting": inpainting, "grid": rows, "real_floor": floor, "noise": noise}
    return result, lines


def run(quick: bool) -> dict[str, Any]:
    """``quick``: 20 samples per grid row and NFE 5 / 20, one scale; else 100 per grid row
    (10 per class), 100 per guidance scale, 500 for the headline, NFE 5 / 10 / 20 / 50 (sized
    for one CPU core)."""
    torch.set_num_threads(1)
    out: dict[str, Any] = {}
    lines: list[str] = []
    for dataset in CHECKPOINTS:
        if not CHECKPOINTS[dataset].exists():
            lines += [f"### {dataset}", "", f"not measured: {CHECKPOINTS[dataset].name} is not shipped", ""]
            continue
        out[dataset], part = _data_set(dataset, quick, grid=dataset == "mnist")
        lines += part + [""]
    out["table"] = "\n".join(lines).rstrip()
    return out


if __name__ == "__main__":
    import argparse
    import json

    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true")
    print(json.dumps(run(ap.parse_args().quick), indent=1, default=float))
