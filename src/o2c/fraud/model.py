"""The anomaly model: an IsolationForest (scikit-learn) on the orders' numeric features
(o2c.fraud.rules.vector), its score mapped to 0..1, and the features behind each score.

Score. IsolationForest's raw anomaly score (the negated `score_samples`, about 0.5 for ordinary
points, near 1 for points isolated in few splits) is mapped linearly so that the training orders'
median gives 0 and their (1 - contamination) quantile gives ANCHOR (0.7, the default review
threshold), clipped to 0..1. So on the model alone about `contamination` of orders like the history
would reach the default threshold: contamination is the share of orders the company is willing to
review.

Reasons. For each feature, the order's robust standardised deviation from the training orders:
(value - median) / scale, the scale being 1.4826 MAD, else IQR / 1.349, else the standard
deviation, else a tenth of the median (at least 0.1: a feature the history never varied is far
off at any other value). The features with the largest deviation (at least MIN_DEVIATION) are the
top reasons. This says which numbers are unusual, which is what a reviewer needs; it is not the
forest's own path-length attribution.

The fitted model is serialised with pickle into bytes for FraudModel.blob; it is only ever loaded
from our own database rows (never from user input). Fitting is deterministic for a given seed.
"""
from __future__ import annotations

import io
import pickle
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from sklearn.ensemble import IsolationForest

from o2c.fraud.rules import FEATURES

ANCHOR = 0.7
MIN_DEVIATION = 3.0
TOP_REASONS = 3


@dataclass
class Fitted:
    forest: IsolationForest
    names: list[str]
    center: np.ndarray  # per-feature median of the training orders
    scale: np.ndarray  # per-feature robust scale
    raw_median: float
    raw_anchor: float

    def raw(self, x: np.ndarray) -> np.ndarray:
        return -self.forest.score_samples(np.asarray(x, dtype=float))

    def score(self, x) -> np.ndarray:
        """0..1 per row (see the module docstring)."""
        span = max(self.raw_anchor - self.raw_median, 1e-9)
        return np.clip((self.raw(x) - self.raw_median) / span * ANCHOR, 0.0, 1.0)

    def deviations(self, x) -> np.ndarray:
        return (np.asarray(x, dtype=float) - self.center) / self.scale

    def reasons(self, row) -> list[dict]:
        """The features of one order that deviate most from the training orders."""
        dev = self.deviations(np.asarray([row]))[0]
        order = np.argsort(-np.abs(dev))
        words = dict(FEATURES)
        out = []
        for i in order[:TOP_REASONS]:
            if abs(dev[i]) < MIN_DEVIATION:
                break
            out.append({"feature": self.names[i], "deviation": round(float(dev[i]), 1),
                        "value": round(float(row[i]), 3), "usual": round(float(self.center[i]), 3),
                        "message": f"{words.get(self.names[i], self.names[i])} unusual "
                                   f"({'+' if dev[i] > 0 else ''}{dev[i]:.1f} robust SD from the history)"})
        return out


def _scale(x: np.ndarray) -> np.ndarray:
    med = np.median(x, axis=0)
    mad = np.median(np.abs(x - med), axis=0) * 1.4826
    q75, q25 = np.percentile(x, [75, 25], axis=0)
    iqr = (q75 - q25) / 1.349
    std = x.std(axis=0)
    constant = np.maximum(np.abs(med) * 0.1, 0.1)  # a value the history never varied from is far from it
    return np.where(mad > 0, mad, np.where(iqr > 0, iqr, np.where(std > 0, std, constant)))


def fit(x, *, seed: int = 0, n_estimators: int = 200, contamination: float = 0.01,
        progress: Callable[[int, int], None] | None = None) -> Fitted:
    """Fit the forest on the training rows, in steps of trees so a caller can show progress."""
    x = np.asarray(x, dtype=float)
    names = [n for n, _ in FEATURES]
    forest = IsolationForest(n_estimators=0, random_state=seed, warm_start=True)
    step = max(n_estimators // 10, 1)
    built = 0
    while built < n_estimators:
        built = min(built + step, n_estimators)
        forest.set_params(n_estimators=built)
        forest.fit(x)
        if progress:
            progress(built, n_estimators)
    raw = -forest.score_samples(x)
    return Fitted(forest, names, np.median(x, axis=0), _scale(x), float(np.median(raw)),
                  float(np.quantile(raw, 1 - contamination)))


def dumps(fitted: Fitted) -> bytes:
    buf = io.BytesIO()
    pickle.dump(fitted, buf, protocol=pickle.HIGHEST_PROTOCOL)
    return buf.getvalue()


def loads(blob: bytes) -> Fitted:
    """Only for blobs this module wrote into our own FraudModel rows."""
    return pickle.loads(blob)  # noqa: S301 - our own rows, see the module docstring
