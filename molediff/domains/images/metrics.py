"""Sample-quality metrics of the images domain, in the feature space of the local
classifier (:mod:`molediff.domains.images.classifier`).

- ``accuracy``: fraction of class-conditional samples classified as the class they were
  drawn for;
- ``fd``: Fréchet distance between Gaussians fitted to the samples' and the held-out
  images' 128-D features (the FID recipe with a classifier trained on the data set itself
  instead of Inception);
- ``kid``: kernel inception distance (Bińkowski et al. 2018): the unbiased squared MMD with
  the cubic polynomial kernel ``k(a, b) = (a·b / d + 1)³``, averaged over random subsets.
  Its expectation is 0 when both sets come from one distribution, so unlike FD it is not
  biased upwards for small sets.
"""

from __future__ import annotations

import numpy as np

from molediff.domains.digits.metrics import frechet_distance

__all__ = ["frechet_distance", "kid", "polynomial_mmd2", "accuracy"]


def polynomial_mmd2(a: np.ndarray, b: np.ndarray) -> float:
    """Unbiased squared MMD of ``[n, d]`` and ``[m, d]`` sets under ``(a·b / d + 1)³``."""
    n, m = len(a), len(b)
    if n < 2 or m < 2:
        return float("nan")
    d = a.shape[1]
    kaa = (a @ a.T / d + 1) ** 3
    kbb = (b @ b.T / d + 1) ** 3
    kab = (a @ b.T / d + 1) ** 3
    xx = (kaa.sum() - np.trace(kaa)) / (n * (n - 1))
    yy = (kbb.sum() - np.trace(kbb)) / (m * (m - 1))
    return float(xx + yy - 2 * kab.mean())


def kid(a: np.ndarray, b: np.ndarray, subsets: int = 20, subset_size: int = 500,
        seed: int = 0) -> float:
    """KID: :func:`polynomial_mmd2` averaged over ``subsets`` random pairs of subsets of at
    most ``subset_size`` items each (fixed ``seed``: the same sets give the same value)."""
    rng = np.random.default_rng(seed)
    size = min(subset_size, len(a), len(b))
    if size < 2:
        return float("nan")
    vals = [polynomial_mmd2(a[rng.choice(len(a), size, replace=False)],
                            b[rng.choice(len(b), size, replace=False)]) for _ in range(subsets)]
    return float(np.mean(vals))


def accuracy(predicted: np.ndarray, labels: np.ndarray) -> float:
    """Fraction of ``predicted == labels``; NaN for no items."""
    if len(labels) == 0:
        return float("nan")
    return float((np.asarray(predicted) == np.asarray(labels)).mean())
