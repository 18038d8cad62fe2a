"""Ship an images training checkpoint: EMA weights only (molediff.inference.export_checkpoint),
the default sampler and guidance chosen after training, and the domain pointed at the data
subset shipped in data/images/ (a run trained on a full set written by
scripts/build_image_data.py --full stores that file's path, which users do not have).

    python scripts/export_image_checkpoint.py outputs/train/runs/<date>/checkpoints/last.ckpt \
        molediff/checkpoints/images_mnist.pt --steps 20 --scale 2.0 --cpu-minutes 25
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from molediff.inference.checkpoint import (  # noqa: E402
    META_KEY,
    checkpoint_config,
    config_to_yaml,
    export_checkpoint,
    load_checkpoint,
    write_checkpoint,
)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("src", type=Path)
    ap.add_argument("dst", type=Path)
    ap.add_argument("--sampler", default="dpmpp_2m")
    ap.add_argument("--steps", type=int, default=20)
    ap.add_argument("--scale", type=float, default=2.0, help="classifier-free guidance scale")
    ap.add_argument("--cpu-minutes", type=float, default=None, help="training budget to record")
    ap.add_argument("--note", default=None, help="training facts to record (e.g. the data)")
    args = ap.parse_args(argv)
    training = {"device": "cpu (1 thread)"}
    if args.cpu_minutes is not None:
        training["cpu_minutes"] = args.cpu_minutes
    if args.note:
        training["note"] = args.note
    with tempfile.TemporaryDirectory() as tmp:
        slim = export_checkpoint(args.src, Path(tmp) / "slim.pt", expect_domain="images",
                                 sampler={"name": args.sampler, "steps": args.steps, "options": {}},
                                 training=training)
        ckpt = load_checkpoint(slim, expect_domain="images")
        cfg = checkpoint_config(ckpt)
        cfg.domain.data_path = None
        cfg.guidance = {"_target_": "molediff.inference.guidance.ClassifierFreeGuidance",
                        "scale": args.scale}
        ckpt[META_KEY]["config_yaml"] = config_to_yaml(cfg)
        out = write_checkpoint(ckpt, args.dst)
    print(f"wrote {out} ({out.stat().st_size / 1e6:.2f} MB)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
