"""The anomaly model (pure): deterministic for a seed, anomalies score above ordinary rows, the
score's scale, the reasons name the unusual features, and it survives serialisation."""
from __future__ import annotations

import numpy as np
import pytest

from o2c.fraud import model
from o2c.fraud.rules import FEATURES


def ordinary(n: int, seed: int = 3) -> np.ndarray:
    rng = np.random.default_rng(seed)
    x = np.zeros((n, len(FEATURES)))
    x[:, 0] = rng.normal(4.0, 0.3, n)  # log total
    x[:, 1] = rng.normal(0.0, 0.2, n)  # log total ratio
    x[:, 2] = rng.normal(0.0, 0.2, n)  # log quantity ratio
    x[:, 3] = 1 + rng.poisson(0.05, n)  # orders in the hour
    x[:, 4] = rng.gamma(2.0, 0.5, n)  # orders in 24 h against the usual
    x[:, 7] = rng.normal(3.0, 0.5, n)  # log earlier orders
    return x


def test_anomalies_rank_above_ordinary_orders_and_the_scale():
    train = ordinary(1000)
    fitted = model.fit(train, seed=7, n_estimators=100, contamination=0.01)
    normal = ordinary(200, seed=11)
    odd = normal[:20].copy()
    odd[:, 2] += np.log(20)  # twenty times the usual quantity
    odd[:, 1] += np.log(10)
    s_normal, s_odd = fitted.score(normal), fitted.score(odd)
    assert s_odd.min() > np.percentile(s_normal, 95)
    assert s_odd.mean() > 0.5 > np.percentile(s_normal, 90)
    # About `contamination` of orders like the training ones reach the anchor on the model alone.
    assert (fitted.score(train) >= model.ANCHOR).mean() <= 0.02
    assert np.median(fitted.score(train)) == pytest.approx(0.0, abs=0.01)
    assert ((0 <= s_normal) & (s_normal <= 1)).all()


def test_reasons_name_the_unusual_features():
    fitted = model.fit(ordinary(500), seed=1, n_estimators=50)
    row = ordinary(1, seed=5)[0]
    assert fitted.reasons(row) == []
    row[2] += np.log(30)
    row[6] = 1.0  # high-risk destination, never seen in training
    found = fitted.reasons(row)
    assert {r["feature"] for r in found} == {"log_quantity_ratio", "high_risk_destination"}
    assert found[0]["message"].endswith("robust SD from the history)")


def test_deterministic_for_a_seed_and_serialisable():
    x = ordinary(300)
    a = model.fit(x, seed=42, n_estimators=60)
    b = model.fit(x, seed=42, n_estimators=60)
    probe = ordinary(50, seed=9)
    assert np.array_equal(a.score(probe), b.score(probe))
    steps = []
    c = model.loads(model.dumps(model.fit(x, seed=42, n_estimators=60, progress=lambda d, t: steps.append((d, t)))))
    assert np.array_equal(a.score(probe), c.score(probe))
    assert steps[-1] == (60, 60) and len(steps) == 10


def test_one_order_is_scored_as_scikit_learn_scores_it():
    fitted = model.fit(ordinary(400), seed=4, n_estimators=80)
    probe = ordinary(30, seed=8)
    probe[:5, 2] += 3.0
    probe[5:8, 6] = 1.0
    expected = -fitted.forest.score_samples(probe)
    one_by_one = np.array([fitted.raw(probe[i:i + 1])[0] for i in range(len(probe))])
    assert np.allclose(one_by_one, expected, rtol=0, atol=1e-12)
