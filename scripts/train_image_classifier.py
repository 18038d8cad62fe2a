"""Train the CNN that scores generated images (accuracy, Fréchet distance, KID) and write
it to molediff/checkpoints/images_classifier_<dataset>.pt with its held-out accuracies.

    python scripts/build_image_data.py --full --out-dir /tmp/imgfull      # needs the packages
    python scripts/train_image_classifier.py --dataset mnist --data /tmp/imgfull/mnist.npz

Without ``--data`` it trains on the subset shipped in data/images/. The epoch count is
chosen on the validation part; the test part is scored once, at the end.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import torch
from torch.nn import functional as F

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from molediff.domains.images import data as image_data  # noqa: E402
from molediff.domains.images.classifier import (  # noqa: E402
    ImageClassifier,
    classifier_path,
    save_classifier,
)


@torch.no_grad()
def accuracy(clf: ImageClassifier, x: torch.Tensor, y: torch.Tensor) -> float:
    _, pred = clf.embed(x)
    return float((torch.as_tensor(pred) == y).float().mean())


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--dataset", choices=image_data.DATASETS, default="mnist")
    ap.add_argument("--data", default=None, help="data file (default: the shipped subset)")
    ap.add_argument("--epochs", type=int, default=3)
    ap.add_argument("--batch-size", type=int, default=128)
    ap.add_argument("--lr", type=float, default=2e-3)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--out", type=Path, default=None)
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    s = image_data.load(args.dataset, args.data)
    x, y = s.images["train"], s.labels["train"]
    clf = ImageClassifier(in_channels=s.shape[0], num_classes=s.num_classes)
    opt = torch.optim.AdamW(clf.parameters(), lr=args.lr, weight_decay=1e-4)
    steps = args.epochs * ((len(x) + args.batch_size - 1) // args.batch_size)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=args.lr, total_steps=steps)
    gen = torch.Generator().manual_seed(args.seed)
    best, best_state, history = -1.0, None, []
    t0, c0 = time.time(), time.process_time()
    for epoch in range(args.epochs):
        clf.train()
        for idx in torch.randperm(len(x), generator=gen).split(args.batch_size):
            # one-pixel random shifts: the scored samples are never perfectly centred
            batch = x[idx]
            dx, dy = torch.randint(-2, 3, (2,), generator=gen).tolist()
            batch = torch.roll(batch, shifts=(dy, dx), dims=(2, 3))
            loss = F.cross_entropy(clf(batch), y[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()
        val = accuracy(clf, s.images["val"], s.labels["val"])
        history.append(val)
        print(f"epoch {epoch + 1}/{args.epochs}: loss {loss.item():.4f}, val accuracy {val:.4f} "
              f"({time.time() - t0:.0f} s)", flush=True)
        if val > best:
            best, best_state = val, {k: v.clone() for k, v in clf.state_dict().items()}
    clf.load_state_dict(best_state)
    test = accuracy(clf, s.images["test"], s.labels["test"])
    meta = {"dataset": args.dataset, "train_images": len(x), "epochs": args.epochs,
            "best_epoch": history.index(best) + 1, "val_accuracy": best, "test_accuracy": test,
            "val_history": history, "wall_seconds": round(time.time() - t0, 1),
            "cpu_seconds": round(time.process_time() - c0, 1),
            "data": "full set" if args.data else "shipped subset", "seed": args.seed}
    out = save_classifier(args.out or classifier_path(args.dataset), clf, meta)
    print(f"val accuracy {best:.4f}, test accuracy {test:.4f}; wrote {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
