"""Spoken digits: the Griffin-Lim round trip on the real recordings, the spoken-digit
classifier, and how often generated digits are heard as the digit asked for.

    python -m benchmarks.suites.audio [--quick]       # prints the markdown table
    python -m benchmarks.run --only audio [--quick]   # writes benchmarks/results/audio.json

(a) Round trip: each of Allison Smith's 10 recorded digits (level set to -20 dBFS, centred
in the analysis window) -> normalised log-mel -> Griffin-Lim (64 iterations) -> waveform;
spectral convergence and log-spectral distance against the original (STFT 512 / hop 128),
for the bundled model's spectrogram (32 mels x 32 frames, hop 250) and the GPU recipe's
(64 x 64, hop 125). (b) The bundled classifier on the test voices and the real
recordings, as analysed and after the round trip. (c) The bundled checkpoint
(``molediff/checkpoints/audio_digits.pt``): clips per digit in turn, each inverted,
checked and classified; accuracy (chance 0.1) per sampler, steps and guidance scale.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import Any

import torch
from omegaconf import OmegaConf

from molediff.domains.audio.classifier import SpokenDigitClassifier
from molediff.domains.audio.data import load_clips
from molediff.domains.audio.features import SpectrogramConfig, griffin_lim, log_mel
from molediff.domains.audio.metrics import round_trip

CHECKPOINT = Path(__file__).resolve().parents[2] / "molediff" / "checkpoints" / "audio_digits.pt"
SPECTROGRAMS = {"bundled (32 mel x 32 frames, hop 250)": SpectrogramConfig(),
                "GPU recipe (64 mel x 64 frames, hop 125)":
                    SpectrogramConfig(n_mels=64, n_frames=64, hop_length=125)}


def generation(cases: list[tuple[str, int, float]], num_samples: int) -> list[dict[str, Any]]:
    """Accuracy and audibility counts of the bundled checkpoint for each
    ``(sampler, steps, guidance scale)``."""
    from molediff.inference import load_model

    rows = []
    for sampler, steps, scale in cases:
        guidance = OmegaConf.create({"_target_": "molediff.inference.guidance.ClassifierFreeGuidance",
                                     "scale": scale})
        model = load_model(CHECKPOINT, sampler=sampler, steps=steps, guidance=guidance, setup=False)
        t0 = time.perf_counter()
        samples = model.generate(num_samples, seed=0, batch_size=100)
        seconds = time.perf_counter() - t0
        m = model.domain.metrics(samples)
        rows.append({"sampler": sampler, "steps": steps, "guidance_scale": scale,
                     "nfe": model.stats.get("nfe"), "accuracy": m["accuracy"],
                     "kept": m["num_samples"], "resampled": m["resampled"],
                     "dropped": m["dropped"], "rms_dbfs": m["rms_dbfs"],
                     "seconds": round(seconds, 1)})
        print(rows[-1], file=sys.stderr, flush=True)
    return rows


def run(quick: bool = False) -> dict[str, Any]:
    torch.set_num_threads(1)
    real, test = load_clips("real"), load_clips("test")
    out: dict[str, Any] = {"round_trip": {}, "classifier": {}, "generation": []}
    lines = ["| spectrogram | spectral convergence | log-spectral distance (dB) |", "|---|---|---|"]
    for name, cfg in SPECTROGRAMS.items():
        m = round_trip(list(real.waves), cfg, n_iter=64)
        out["round_trip"][name] = m
        lines.append(f"| {name} | {m['spectral_convergence']:.3f} | {m['log_spectral_distance']:.2f} |")
    clf = SpokenDigitClassifier.load()
    cfg = clf.config
    for split, clips in (("test voices (espeak-ng, 222)", test), ("real (Allison, 10)", real)):
        waves = list(clips.waves)
        out["classifier"][split] = {
            "accuracy": clf.accuracy(waves, clips.digits),
            "after_round_trip": clf.accuracy(list(griffin_lim(log_mel(waves, cfg), cfg)), clips.digits)}
    lines += ["", "| classifier on | accuracy | after the round trip |", "|---|---|---|"]
    lines += [f"| {k} | {v['accuracy']:.3f} | {v['after_round_trip']:.3f} |"
              for k, v in out["classifier"].items()]
    if CHECKPOINT.exists():
        cases = ([("dpmpp_2m", 20, 2.0)] if quick else
                 [("dpmpp_2m", 20, 2.0), ("dpmpp_2m", 20, 1.0), ("dpmpp_2m", 20, 3.0),
                  ("dpmpp_2m", 10, 2.0), ("heun", 10, 2.0)])
        out["generation"] = generation(cases, 50 if quick else 100)
        lines += ["", "| sampler | steps | NFE | CFG scale | accuracy | kept | redrawn | dropped | s |",
                  "|---|---|---|---|---|---|---|---|---|"]
        lines += [f"| {r['sampler']} | {r['steps']} | {r['nfe']} | {r['guidance_scale']} | "
                  f"{r['accuracy']:.3f} | {r['kept']:.0f} | {r['resampled']:.0f} | "
                  f"{r['dropped']:.0f} | {r['seconds']} |" for r in out["generation"]]
    out["table"] = "\n".join(lines)
    return out


if __name__ == "__main__":
    print(run(quick="--quick" in sys.argv)["table"])
