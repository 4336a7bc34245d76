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


class Flat:
    """The forest's trees as padded arrays, to score one order in a few vectorised steps (one per tree
    level) instead of scikit-learn's per-tree calls, which cost about 0.3 ms each. Same numbers as
    `IsolationForest.score_samples` (checked in tests): the path length of the leaf reached, plus the
    average path length of the samples left in it."""

    def __init__(self, forest: IsolationForest, n_features: int):
        trees = forest.estimators_
        size = max(t.tree_.node_count for t in trees)
        shape = (len(trees), size)
        self.left = np.full(shape, -1, dtype=np.int64)
        self.right = np.full(shape, -1, dtype=np.int64)
        self.feature = np.zeros(shape, dtype=np.int64)
        self.threshold = np.zeros(shape)
        self.leaf = np.zeros(shape)  # path length when the order ends in this node
        subsample = forest._max_features != n_features
        for i, (t, features) in enumerate(zip(trees, forest.estimators_features_)):
            n, tr = t.tree_.node_count, t.tree_
            self.left[i, :n], self.right[i, :n] = tr.children_left, tr.children_right
            feat = np.maximum(tr.feature, 0)
            self.feature[i, :n] = np.asarray(features)[feat] if subsample else feat
            self.threshold[i, :n] = tr.threshold
            self.leaf[i, :n] = forest._decision_path_lengths[i] + forest._average_path_length_per_tree[i] - 1.0
        from sklearn.ensemble._iforest import _average_path_length
        self.denominator = len(trees) * float(_average_path_length([forest._max_samples])[0])
        self.rows = np.arange(len(trees))

    def raw(self, row) -> float:
        x = np.asarray(row, dtype=np.float32).astype(float)  # the trees compare float32 values
        node = np.zeros(len(self.rows), dtype=np.int64)
        while True:
            left = self.left[self.rows, node]
            inner = left != -1
            if not inner.any():
                break
            go_left = x[self.feature[self.rows, node]] <= self.threshold[self.rows, node]
            node = np.where(inner, np.where(go_left, left, self.right[self.rows, node]), node)
        return float(2 ** (-self.leaf[self.rows, node].sum() / self.denominator))


@dataclass
class Fitted:
    forest: IsolationForest
    names: list[str]
    center: np.ndarray  # per-feature median of the training orders
    scale: np.ndarray  # per-feature robust scale
    raw_median: float
    raw_anchor: float
    flat: Flat | None = None

    def raw(self, x: np.ndarray) -> np.ndarray:
        x = np.asarray(x, dtype=float)
        if len(x) == 1 and self.flat is not None:
            return np.asarray([self.flat.raw(x[0])])
        return -self.forest.score_samples(x)

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
                  float(np.quantile(raw, 1 - contamination)), Flat(forest, x.shape[1]))


def dumps(fitted: Fitted) -> bytes:
    buf = io.BytesIO()
    pickle.dump(fitted, buf, protocol=pickle.HIGHEST_PROTOCOL)
    return buf.getvalue()


def loads(blob: bytes) -> Fitted:
    """Only for blobs this module wrote into our own FraudModel rows."""
    return pickle.loads(blob)  # noqa: S301 - our own rows, see the module docstring
