"""Metrics against known answers: FD and KID of a set with itself / two halves of one set
are ~0 and grow for a different set; the shipped classifier is as accurate as recorded."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from molediff.domains.images import metrics as image_metrics
from molediff.domains.images.classifier import classifier_path, load_classifier


def test_polynomial_mmd_matches_the_definition():
    rng = np.random.default_rng(0)
    a, b = rng.normal(size=(7, 3)), rng.normal(1.0, 1.0, size=(5, 3))

    def k(x, y):
        return (x @ y / 3 + 1) ** 3

    xx = np.mean([k(a[i], a[j]) for i in range(7) for j in range(7) if i != j])
    yy = np.mean([k(b[i], b[j]) for i in range(5) for j in range(5) if i != j])
    xy = np.mean([k(a[i], b[j]) for i in range(7) for j in range(5)])
    assert image_metrics.polynomial_mmd2(a, b) == pytest.approx(xx + yy - 2 * xy, rel=1e-10)


def test_kid_and_fd_of_gaussians():
    rng = np.random.default_rng(1)
    a, b = rng.normal(size=(2000, 8)), rng.normal(size=(2000, 8))
    shifted = rng.normal(0.5, 1.0, size=(2000, 8))
    same, diff = image_metrics.kid(a, b, subsets=10), image_metrics.kid(a, shifted, subsets=10)
    assert abs(same) < 0.02 and diff > 20 * abs(same)
    # FD of N(0, I) vs N(0.5, I) in 8-D is |mu|^2 = 8 * 0.25 = 2
    assert image_metrics.frechet_distance(a, shifted) == pytest.approx(2.0, abs=0.15)
    assert image_metrics.frechet_distance(a, a) == pytest.approx(0.0, abs=1e-6)


def test_shipped_classifier_and_feature_metrics(mnist):
    path = classifier_path("mnist")
    clf, meta = load_classifier(path)
    assert meta["dataset"] == "mnist" and meta["test_accuracy"] > 0.97
    feats, pred = clf.embed(mnist.images.images["test"])
    assert image_metrics.accuracy(pred, mnist.images.labels["test"].numpy()) == pytest.approx(
        meta["test_accuracy"], abs=0.03)  # the shipped subset of the test part
    val = mnist.reference_features()
    half = len(feats) // 2
    noise, _ = clf.embed(torch.rand(500, 1, 28, 28) * 2 - 1)
    kid_real = image_metrics.kid(feats[:half], feats[half:])
    kid_noise = image_metrics.kid(noise, val)
    assert abs(kid_real) < 0.05 * kid_noise
    fd_real = image_metrics.frechet_distance(feats, val)
    assert fd_real < 0.05 * image_metrics.frechet_distance(noise, val)


def test_domain_metrics_separate_real_from_noise(mnist):
    real = {"images": mnist.images.images["test"][:300], "labels": mnist.images.labels["test"][:300]}
    noise = {"images": torch.rand(300, 1, 28, 28) * 2 - 1, "labels": torch.arange(300) % 10}
    mr, mn = mnist.metrics(real), mnist.metrics(noise)
    assert mr["accuracy"] > 0.95 and mn["accuracy"] < 0.35
    assert mr["fd"] < 0.05 * mn["fd"] and mr["kid"] < 0.05 * mn["kid"]


def test_shipped_fashion_classifier():
    from molediff.domains.images import ImagesDomain

    clf, meta = load_classifier(classifier_path("fashion_mnist"))
    assert meta["dataset"] == "fashion_mnist" and meta["test_accuracy"] > 0.8
    d = ImagesDomain(dataset="fashion_mnist", reference_part="test")
    real = {"images": d.images.images["test"][:300], "labels": d.images.labels["test"][:300]}
    noise = {"images": torch.rand(300, 1, 28, 28) * 2 - 1, "labels": torch.arange(300) % 10}
    mr, mn = d.metrics(real), d.metrics(noise)
    assert mr["accuracy"] == pytest.approx(meta["test_accuracy"], abs=0.05)
    assert mn["accuracy"] < 0.35 and mr["kid"] < 0.05 * mn["kid"]
