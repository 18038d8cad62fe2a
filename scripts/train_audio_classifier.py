"""Train the spoken-digit classifier that scores generated audio and ship it as
``molediff/checkpoints/audio_digit_classifier.pt``.

Trained on the synthesised training voices of ``data/audio`` (with augmentation); the
epoch is chosen on the validation voices; the file records the accuracy on the test voices
and on the real recordings (Allison Smith), which played no part in training or choice.

    .venv/bin/python scripts/train_audio_classifier.py   # ~14 min on one busy core
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import torch

from molediff.domains.audio.classifier import BUNDLED, train_classifier
from molediff.domains.audio.data import load_clips
from molediff.domains.audio.features import SpectrogramConfig, griffin_lim, log_mel


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--epochs", type=int, default=20)
    p.add_argument("--augmentations", type=int, default=4)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--out", type=Path, default=BUNDLED)
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)
    t0, cpu0 = time.perf_counter(), time.process_time()
    train, val = load_clips("train"), load_clips("val")
    clf = train_classifier(list(train.waves), train.digits, val=(list(val.waves), val.digits),
                           epochs=args.epochs, augmentations=args.augmentations, seed=args.seed,
                           log=print)
    cfg: SpectrogramConfig = clf.config
    for split in ("test", "real"):
        clips = load_clips(split)
        clf.info[f"{split}_accuracy"] = clf.accuracy(list(clips.waves), clips.digits)
        # the same clips after log-mel analysis and Griffin-Lim inversion: the ceiling for
        # generated audio, which reaches the classifier through the same inversion
        inverted = griffin_lim(log_mel(list(clips.waves), cfg), cfg)
        clf.info[f"{split}_inverted_accuracy"] = clf.accuracy(list(inverted), clips.digits)
    clf.info |= {"epochs": args.epochs, "augmentations": args.augmentations, "seed": args.seed,
                 "train_clips": len(train), "wall_seconds": round(time.perf_counter() - t0, 1),
                 "cpu_seconds": round(time.process_time() - cpu0, 1)}
    clf.save(args.out)
    print({k: (round(v, 4) if isinstance(v, float) else v) for k, v in clf.info.items()})
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
