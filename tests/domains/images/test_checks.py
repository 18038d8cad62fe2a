"""The image check: real images pass, broken ones fail under the right name."""

from __future__ import annotations

from molediff.domains.images.checks import ImageCheck


def test_real_images_pass(mnist):
    check = ImageCheck()
    assert bool(check.passed(mnist.images.images["val"]).all())
    assert bool(check.passed(mnist.images.images["train"][:2000]).all())


def test_each_failure_is_named(mnist):
    x = mnist.images.images["val"][:5].clone()
    x[0, 0, 3, 3] = float("nan")
    x[1] = -1.0                      # blank: all background
    x[2] = 0.7                       # constant grey
    x[3] = x[3] * 5.0                # diverged: far beyond [-1, 1]
    fails = ImageCheck()(x)
    assert fails["nonfinite"].tolist() == [True, False, False, False, False]
    assert fails["blank"].tolist() == [False, True, True, False, False]
    assert fails["range"].tolist() == [False, False, False, True, False]
    assert ImageCheck().passed(x).tolist() == [False, False, False, False, True]
    # slight overshoot, as a trained model gives it, is not a failure (export clips it)
    assert bool(ImageCheck().passed(mnist.images.images["val"][:50] * 1.5).all())
