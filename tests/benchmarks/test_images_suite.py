"""The images suite's guidance-scale rule: the least-FD scale among the near-best accuracies."""

from __future__ import annotations

import math

from benchmarks.suites.images import _choose_scale


def _row(scale, accuracy, fd, n=100.0):
    return {"scale": scale, "accuracy": accuracy, "fd": fd, "num_samples": n}


def test_takes_the_lowest_fd_among_near_best_accuracies():
    rows = [_row(1, 0.80, 10.0), _row(2, 0.99, 15.0), _row(3, 1.00, 24.0), _row(4, 1.00, 30.0)]
    assert _choose_scale(rows) == 2  # 0.99 is within 2 points of 1.00 and has the lower FD
    assert _choose_scale(rows, slack=0.0) == 3  # only the perfect scales qualify


def test_ignores_rows_where_every_sample_failed():
    rows = [_row(1, math.nan, math.nan, n=0.0), _row(2, 0.7, 40.0), _row(3, 0.9, 50.0)]
    assert _choose_scale(rows) == 3
