"""Fraud screening, as the order desk and the fraud analyst live it: a quiet history of ordinary
orders; then a burst of orders, a huge quantity and a high-risk destination are held for review with
their reasons; the analyst approves one (the order goes on, label legit) and rejects another (the
order is cancelled, label fraud); the user who entered an order may not decide it; a decision is
made once. Then the model is trained on the history and ranks planted anomalies above ordinary
orders on held-out orders."""
from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

from o2c.core import clock
from tests.api import order_body
from tests.fraud import support

# Floors for the model trained on the small story history (measured: see docs/fraud.md).
PLANTED_RECALL_FLOOR = 0.75  # measured 0.81 (rules alone 0.60)
PLANTED_PRECISION_FLOOR = 0.9  # measured 0.97
LABELLED_FLOOR = 0.75


def _post(api, body, user="desk") -> dict:
    r = api.post("/orders", user=user, json=body)
    assert r.status_code == 201, r.text
    return r.json()


def _fraud_hold(order: dict) -> dict:
    assert order["status"] == "held", order
    holds = [h for h in order["holds"] if h["kind"] == "fraud" and h["active"]]
    assert len(holds) == 1, order["holds"]
    return holds[0]


def _review_of(api, order_id: int) -> dict:
    r = api.get("/fraud-reviews", user="fraudcop")
    assert r.status_code == 200, r.text
    found = [x for x in r.json()["items"] if x["order_id"] == order_id]
    assert len(found) == 1, r.json()
    return found[0]


def _codes(review: dict) -> set[str]:
    return {x["code"] for x in review["reasons"]}


def _timeline(api, order_id: int) -> list[str]:
    r = api.get(f"/orders/{order_id}/timeline", user="viewer")
    assert r.status_code == 200, r.text
    return [e["action"] for e in r.json()]


def test_fraud_screening_story(api, world):
    history = support.build(world, days=90, frauds=12)
    assert len(history.normal) > 250 and len(history.fraud) == 12
    now = history.end + timedelta(days=1, hours=-5)
    clock.freeze(now)

    # An ordinary order goes straight through: no fraud hold without a model either.
    normal = _post(api, order_body("BIGBUY", lines=[{"sku": "WIDGET", "quantity": "3"}]))
    assert normal["status"] == "confirmed", normal
    assert api.get("/fraud-reviews", user="fraudcop").json()["items"] == []

    # A burst: LOYAL usually orders about once a day; six orders within the hour.
    burst = []
    for i in range(6):
        clock.freeze(now + timedelta(minutes=5 * i))
        burst.append(_post(api, order_body("LOYAL", lines=[{"sku": "WIDGET", "quantity": "2"}])))
    assert [o["status"] for o in burst[:5]] == ["confirmed"] * 5
    hold = _fraud_hold(burst[5])
    assert hold["reasons"][0]["code"] == "review_required"
    assert "6 orders in the last hour" in hold["reasons"][0]["message"]

    # A huge quantity: BIGBUY buys 2 to 6 widgets at a time; now 100.
    huge = _post(api, order_body("BIGBUY", lines=[{"sku": "WIDGET", "quantity": "100"}]))
    _fraud_hold(huge)

    # A high-risk destination abroad, entered by the administrator (who may also review).
    far = _post(api, order_body("EXEMPT", ship_to=support.TEHRAN, lines=[{"sku": "WIDGET", "quantity": "3"}]),
                user="admin")
    _fraud_hold(far)

    # The queue holds the three, each with its score and reasons.
    queue = api.get("/fraud-reviews", user="fraudcop").json()["items"]
    assert sorted(x["order_id"] for x in queue) == sorted([burst[5]["id"], huge["id"], far["id"]])
    assert all(Decimal(x["score"]) >= Decimal("0.7") and x["status"] == "pending" for x in queue)
    r_burst, r_huge, r_far = (_review_of(api, o["id"]) for o in (burst[5], huge, far))
    assert "velocity_burst" in _codes(r_burst)
    assert {"quantity_huge", "total_huge"} <= _codes(r_huge)
    assert {"high_risk_destination", "ship_to_other_country"} <= _codes(r_far)
    assert r_far["model_id"] is None  # no model yet: the rules alone

    # The user who entered an order may not decide it; the order desk may not decide at all.
    r = api.post(f"/fraud-reviews/{r_far['id']}/approve", user="admin", json={"reason": "I know them"})
    assert r.status_code == 403 and "segregation of duties" in r.json()["detail"], r.text
    r = api.post(f"/fraud-reviews/{r_huge['id']}/approve", user="desk", json={"reason": "fine"})
    assert r.status_code == 403, r.text
    r = api.post(f"/fraud-reviews/{r_huge['id']}/approve", user="fraudcop", json={"reason": "  "})
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "reason", r.text

    # Approved: the buyer confirmed the big order by phone. The order goes on; the label is legit.
    r = api.post(f"/fraud-reviews/{r_huge['id']}/approve", user="fraudcop",
                 json={"reason": "buyer confirmed a one-off project order by phone"})
    assert r.status_code == 200, r.text
    assert (r.json()["status"], r.json()["label"], r.json()["order_status"]) == ("approved", "legit", "confirmed")
    order = api.get(f"/orders/{huge['id']}", user="viewer").json()
    assert order["status"] == "confirmed"
    assert "fraud_hold_released" in _timeline(api, huge["id"])

    # Rejected: the burst was card testing. The order is cancelled; the label is fraud.
    r = api.post(f"/fraud-reviews/{r_burst['id']}/reject", user="fraudcop",
                 json={"reason": "card testing: six orders in half an hour"})
    assert r.status_code == 200, r.text
    assert (r.json()["status"], r.json()["label"], r.json()["order_status"]) == ("rejected", "fraud", "cancelled")
    assert "fraud_rejected" in _timeline(api, burst[5]["id"])

    # Decided once: a second decision is a conflict, and so is deciding a cancelled order's review.
    r = api.post(f"/fraud-reviews/{r_burst['id']}/approve", user="fraudcop", json={"reason": "changed my mind"})
    assert r.status_code == 409, r.text
    assert api.post(f"/orders/{far['id']}/cancel", user="desk", json={"reason": "customer withdrew"}).status_code == 200
    assert api.get(f"/fraud-reviews/{r_far['id']}", user="fraudcop").json()["status"] == "cancelled"
    r = api.post(f"/fraud-reviews/{r_far['id']}/reject", user="fraudcop", json={"reason": "too late"})
    assert r.status_code == 409, r.text
    assert api.get("/fraud-reviews", user="fraudcop").json()["items"] == []

    labels = {x["order_id"]: x["label"] for x in api.get("/fraud-reviews/labels", user="fraudcop").json()}
    assert (labels[huge["id"]], labels[burst[5]["id"]]) == ("legit", "fraud")
    assert set(labels) - {huge["id"], burst[5]["id"]} <= set(history.fraud)  # the history's held frauds

    # Past decisions: the planted frauds of the history were rejected, some ordinary orders approved.
    support.label(world, history.fraud, "fraud")
    support.label(world, history.normal[::10], "legit")

    # Training needs fraud.train; the analyst trains on the history.
    assert api.post("/fraud-reviews/model/train", user="desk", json={}).status_code == 403
    r = api.post("/fraud-reviews/model/train", user="fraudcop", json={"seed": 0})
    assert r.status_code == 201, r.text
    m = r.json()
    assert m["algorithm"] == "isolation_forest" and m["trained_on"] > 150
    planted = m["metrics"]["planted"]["model_and_rules"]
    assert planted["recall"] >= PLANTED_RECALL_FLOOR and planted["precision"] >= PLANTED_PRECISION_FLOOR, planted
    labelled = m["metrics"]["labelled"]["model_and_rules"]
    assert labelled["fraud"] >= 2 and labelled["cases"] > labelled["fraud"], labelled
    assert labelled["recall"] >= LABELLED_FLOOR and labelled["precision"] >= LABELLED_FLOOR, labelled
    assert api.get("/fraud-reviews/model", user="viewer").json()["id"] == m["id"]

    # With the model: an ordinary order still goes through, a new anomaly is held with the model's reasons.
    clock.freeze(now + timedelta(hours=3))
    ok = _post(api, order_body("TIDY", channel="b2b_portal", lines=[{"sku": "WIDGET", "quantity": "4"}]))
    assert ok["status"] == "confirmed", ok
    odd = _post(api, order_body("LOYAL", lines=[{"sku": "GADGET", "quantity": "3"},
                                                 {"sku": "WIDGET", "quantity": "40"}]))
    _fraud_hold(odd)
    review = _review_of(api, odd["id"])
    assert review["model_id"] == m["id"]
    assert any(x["source"] == "model" for x in review["reasons"]), review["reasons"]
