"""``molediff speak``: spoken digits as WAV files, or which digit a recording says.

Examples::

    molediff speak 3 1 4 -o digits/                  # digits/digit3_000.wav, ...
    molediff speak seven -n 5 --guidance-scale 3 -o sevens/
    molediff speak --classify hello.wav other.flac   # the digit each recording says

Generation uses the bundled checkpoint (``molediff/checkpoints/audio_digits.pt``) unless
``--checkpoint`` is given, through :func:`molediff.inference.load_model` and the audio
domain's generation path: every clip is inverted with Griffin-Lim and passes the
audibility check (finite, not silent, not clipped) before it is written; failures are
redrawn, then dropped, and counted in the summary line. Digits, options and the output
directory are checked before the model loads. ``--classify`` reads each file (any format
soundfile reads), refuses silent or clipped audio with one message, and prints
``<file>\\t<digit>`` with the bundled spoken-digit classifier.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Sequence
from pathlib import Path

from molediff.utils.entry import run_entry

PROG = "molediff speak"
BUNDLED_CHECKPOINT = Path(__file__).resolve().parents[2] / "checkpoints" / "audio_digits.pt"
SAMPLERS = ("dpmpp_2m", "heun", "euler", "ddim", "ddpm", "dpmpp_2m_sde", "restart")


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog=PROG, description="Spoken digits as WAV files (8 kHz).")
    p.add_argument("digits", nargs="*", help="digits to say: 0-9 or words (zero ... nine)")
    p.add_argument("-o", "--output", help="output directory for the WAV files")
    p.add_argument("-n", "--num", type=int, default=1, help="clips per digit (1)")
    p.add_argument("--checkpoint", default=None, help="checkpoint (default: the bundled model)")
    p.add_argument("--sampler", choices=SAMPLERS, default=None,
                   help="core sampler (default: the checkpoint's, dpmpp_2m)")
    p.add_argument("--steps", type=int, default=None, help="sampler steps (default: 20)")
    p.add_argument("--guidance-scale", type=float, default=None,
                   help="classifier-free guidance scale (default: the checkpoint's, 2)")
    p.add_argument("--seed", type=int, default=0, help="random seed (0)")
    p.add_argument("--threads", type=int, default=1, help="CPU threads (1)")
    p.add_argument("--classify", nargs="+", metavar="FILE", default=None,
                   help="instead of generating: print the digit each recording says")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bar, no summary")
    return p


def classify(files: Sequence[str]) -> int:
    """Print ``<file>\\t<digit>`` for each readable, audible recording."""
    from molediff.domains.audio.classifier import SpokenDigitClassifier
    from molediff.domains.audio.io import read_user_audio

    clf = SpokenDigitClassifier.load()
    waves = [read_user_audio(f, clf.config.sample_rate) for f in files]  # all checked first
    for f, digit in zip(files, clf.predict(waves), strict=True):
        print(f"{f}\t{int(digit)}")
    return 0


def _main(argv: Sequence[str]) -> int:
    args = build_parser().parse_args(argv)
    from molediff.utils.errors import UsageError
    from molediff.utils.validate import finite_float, positive_int

    if args.classify is not None:
        if args.digits or args.output:
            raise UsageError("--classify takes recordings only (no digits, no -o)")
        return classify(args.classify)
    if not args.digits:
        raise UsageError("name at least one digit to say (0-9 or zero ... nine)")
    if not args.output:
        raise UsageError("give an output directory with -o")
    for flag, value in (("-n/--num", args.num), ("--threads", args.threads)):
        positive_int(value, flag)
    if args.steps is not None:
        positive_int(args.steps, "--steps")
    if args.guidance_scale is not None:
        finite_float(args.guidance_scale, "--guidance-scale")
    from molediff.domains.audio.domain import parse_digits
    from molediff.utils.io import check_output_dir

    digits = parse_digits(list(args.digits))
    out = check_output_dir(args.output)  # before the model loads

    import torch
    from omegaconf import OmegaConf

    from molediff.inference import load_model
    from molediff.utils.publish import publish

    torch.set_num_threads(args.threads)
    guidance = None
    if args.guidance_scale is not None:
        guidance = OmegaConf.create({"_target_": "molediff.inference.guidance.ClassifierFreeGuidance",
                                     "scale": float(args.guidance_scale)})
    model = load_model(args.checkpoint or BUNDLED_CHECKPOINT, expect_domain="audio",
                       sampler=args.sampler, steps=args.steps, guidance=guidance)
    t0 = time.perf_counter()
    wanted = [d for d in digits for _ in range(args.num)]
    samples = model.generate(len(wanted), condition=wanted, seed=args.seed,
                             progress=not args.quiet)
    files = publish(out, lambda tmp: model.domain.export(samples, tmp))
    if not args.quiet:
        c = samples["counts"]
        print(f"wrote {out}: {', '.join(p.name for p in files)} ({len(samples['labels'])}/"
              f"{len(wanted)} clips in {time.perf_counter() - t0:.1f} s; audibility check: "
              f"{c['silent']} silent, {c['clipped']} clipped, {c['non_finite']} non-finite, "
              f"{c['resampled']} redrawn, {c['dropped']} dropped)", file=sys.stderr)
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """``molediff speak`` entry point; returns the exit status."""
    return run_entry(_main, argv, PROG)


if __name__ == "__main__":
    sys.exit(main())
