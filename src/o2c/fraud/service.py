"""Fraud screening use cases: score an order (rules + the company's latest model), train the model on
the order history, and the review queue whose decisions become labels for the next training.

Scoring one order is one statement (the customer's last orders with their lines of the order's
products, and the company's latest model id; see _history); the billing address comes from the
master-data cache, and a model is unpickled once per process (see _MODELS).
"""
from __future__ import annotations

import os
import random
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import datetime
from decimal import Decimal
from statistics import median

import numpy as np
from sqlalchemy import and_, select
from sqlalchemy.orm import Session

from o2c.core import audit, clock, sod
from o2c.core.auth import Actor, require
from o2c.core.errors import Conflict, NotFound, ValidationFailed
from o2c.core.events import emit
from o2c.core.masterdata import CACHE
from o2c.core.models import Company
from o2c.customers.models import Customer, CustomerAddress
from o2c.fraud import model as forest
from o2c.fraud import rules
from o2c.fraud.models import FraudModel, FraudReview
from o2c.orders.models import Order, OrderLine

HISTORY_ORDERS = 200  # the customer's most recent orders the rules look at
COMPANY_SAMPLE = 500  # recent orders that give the company's typical order total
MIN_TRAINING_ORDERS = 50
HOLD_OUT = 0.3  # share of orders (and of labelled orders) kept out of training, for evaluation
PLANTED_MAX = 1000  # planted anomalies per evaluation (synthetic, see _planted)
CANCELLED = "cancelled"
KIND = "fraud"  # the order hold kind (o2c.fraud.gate)


def high_risk_countries() -> frozenset[str]:
    """O2C_FRAUD_HIGH_RISK_COUNTRIES (comma-separated ISO codes) or the default list in rules."""
    raw = os.environ.get("O2C_FRAUD_HIGH_RISK_COUNTRIES")
    if raw is None:
        return rules.HIGH_RISK_COUNTRIES
    return frozenset(c.strip().upper() for c in raw.split(",") if c.strip())


# ---------------------------------------------------------------- scoring one order

@dataclass
class Assessment:
    score: float
    rules_score: float
    model_score: float | None
    hits: list[rules.Hit]
    model_reasons: list[dict]
    model_id: int | None
    features: rules.Features

    def reasons(self) -> list[dict]:
        """Rule hits, strongest first, then the model's top features."""
        out = [{"source": "rule", "code": h.code, "points": h.points, "message": h.reason} for h in self.hits]
        if self.model_score is not None:
            out += [{"source": "model", "code": r["feature"], "message": r["message"],
                     "deviation": r["deviation"]} for r in self.model_reasons]
        return out

    def summary(self, top: int = 3) -> str:
        words = [h.reason for h in self.hits[:top]]
        if self.model_score is not None and len(words) < top:
            words += [r["message"] for r in self.model_reasons[:top - len(words)]]
        model = f", model {self.model_score:.2f}" if self.model_score is not None else ""
        return f"fraud score {self.score:.2f} (rules {self.rules_score:.2f}{model}): " + "; ".join(words or ["-"])


_MODELS: dict[str, forest.Fitted] = {}  # by the model's unique key (params["key"]), per process
_MODELS_LOCK = threading.Lock()


def _latest_model_row(company_id: int):
    return (select(FraudModel.id, FraudModel.params).where(FraudModel.company_id == company_id)
            .order_by(FraudModel.id.desc()).limit(1))


def _fitted(session: Session, row) -> tuple[int, forest.Fitted] | None:
    """The model of a (id, params) row, unpickled once per process (by its unique key)."""
    if row is None or row[0] is None:
        return None
    model_id, params = row
    key = (params or {}).get("key") or f"id:{model_id}"
    with _MODELS_LOCK:
        fitted = _MODELS.get(key)
    if fitted is None:
        fitted = forest.loads(session.scalar(select(FraudModel.blob).where(FraudModel.id == model_id)))
        with _MODELS_LOCK:
            if len(_MODELS) > 32:
                _MODELS.clear()
            _MODELS[key] = fitted
    return model_id, fitted


def _latest_model(session: Session, company_id: int) -> tuple[int, forest.Fitted] | None:
    return _fitted(session, session.execute(_latest_model_row(company_id)).first())


def _billing(session: Session, company: Company, customer_id: int) -> tuple[str | None, str | None]:
    def load():
        row = session.execute(select(CustomerAddress.country, CustomerAddress.postal_code)
                              .where(CustomerAddress.customer_id == customer_id, CustomerAddress.kind == "billing")
                              .order_by(CustomerAddress.is_default.desc(), CustomerAddress.id).limit(1)).first()
        return (row.country, row.postal_code) if row else (None, None)
    return CACHE.one(session, company, ("fraud_billing", customer_id), load)


_UNREAD = object()


def _history(session: Session, company_id: int, customer_id: int, before_id: int | None,
             product_ids: set[int] | None):
    """The customer's last orders before `before_id`, with their line quantities of `product_ids`
    (None: of every product), and the company's latest model (id, params), in one statement. The
    model comes back as _UNREAD when the customer has no orders (no row to carry it)."""
    past = (select(Order.id, Order.created_at, Order.total, Order.status)
            .where(Order.company_id == company_id, Order.customer_id == customer_id)
            .order_by(Order.id.desc()).limit(HISTORY_ORDERS))
    if before_id is not None:
        past = past.where(Order.id < before_id)
    past = past.subquery()
    on = and_(OrderLine.order_id == past.c.id, past.c.status != CANCELLED)
    if product_ids is not None:
        on = and_(on, OrderLine.product_id.in_(sorted(product_ids)))
    latest = (select(FraudModel.id).where(FraudModel.company_id == company_id)
              .order_by(FraudModel.id.desc()).limit(1).scalar_subquery())
    params = select(FraudModel.params).where(FraudModel.id == latest).scalar_subquery()
    rows = session.execute(select(past.c.id, past.c.created_at, past.c.total, past.c.status,
                                  OrderLine.product_id, OrderLine.quantity,
                                  latest.label("model_id"), params.label("model_params"))
                           .select_from(past.outerjoin(OrderLine, on))).all()
    orders: dict[int, tuple] = {}
    qty: dict[int, list[tuple[datetime, Decimal]]] = {}
    for r in rows:
        orders[r.id] = (r.created_at, r.total, r.status)
        if r.product_id is not None:
            qty.setdefault(r.product_id, []).append((r.created_at, r.quantity))
    history = rules.History(times=sorted(at for at, _, _ in orders.values()),
                            totals=[(at, t) for at, t, st in orders.values() if st != CANCELLED],
                            qty_by_product=qty)
    return history, ((rows[0].model_id, rows[0].model_params) if rows else _UNREAD)


TYPICAL_SECONDS = 600.0  # the company's typical order total is read again after this


def _company_typical_total(session: Session, company: Company) -> Decimal | None:
    """The median total of the company's last orders (None with too few), kept per process for
    TYPICAL_SECONDS (in the master-data cache, per database and company): it moves slowly, and only
    first orders of new customers need it."""
    kept = CACHE.one(session, company, ("fraud_typical",), lambda: {"until": 0.0, "value": None})
    if kept["until"] > time.monotonic():
        return kept["value"]
    totals = session.scalars(select(Order.total).where(Order.company_id == company.id, Order.status != CANCELLED)
                             .order_by(Order.id.desc()).limit(COMPANY_SAMPLE)).all()
    if len(totals) < rules.MIN_COMPANY_ORDERS:
        return None  # not kept: a young company's next orders may be enough
    kept.update(until=time.monotonic() + TYPICAL_SECONDS, value=median(totals))
    return kept["value"]


def facts_for(session: Session, company: Company, order, batch: dict | None = None):
    """The order's facts. `batch` (shared by the orders of one bulk import) keeps each customer's
    history and the company's typical total, and grows with the batch's orders (see `assess`), so an
    import reads each customer's history once. Returns the facts and the company's latest model row
    when it came with the history (else _UNREAD)."""
    lines = tuple((li.product_id, li.sku, Decimal(li.quantity)) for li in order.lines)
    at = getattr(order, "created_at", None) or clock.now()
    kept = batch.setdefault("fraud_history", {}) if batch is not None else {}
    history, model_row = kept.get(order.customer_id), _UNREAD
    if history is None:
        products = None if batch is not None else {p for p, _, _ in lines}  # an import's next orders: any product
        history, model_row = _history(session, company.id, order.customer_id, order.id, products)
        if batch is not None:
            kept[order.customer_id] = history
    typical = None
    if not history.times:
        if batch is not None and "fraud_typical" in batch:
            typical = batch["fraud_typical"]
        else:
            typical = _company_typical_total(session, company)
            if batch is not None:
                batch["fraud_typical"] = typical
    bill_country, bill_postal = _billing(session, company, order.customer_id)
    return rules.Facts(at=at, channel=order.channel, total=Decimal(order.total or 0), lines=lines,
                       ship_country=order.ship_to_country, ship_postal=order.ship_to_postal_code,
                       bill_country=bill_country, bill_postal=bill_postal, history=history,
                       company_typical_total=typical, high_risk=high_risk_countries()), model_row


def _assess_features(x: rules.Features, fitted: forest.Fitted | None, model_id: int | None) -> Assessment:
    found = rules.hits(x)
    r = rules.rule_score(found)
    m, reasons = None, []
    if fitted is not None:
        row = rules.vector(x)
        m = float(fitted.score([row])[0])
        reasons = fitted.reasons(row)
    return Assessment(rules.combine(r, m), r, m, found, reasons, model_id, x)


def assess(session: Session, company: Company, order, batch: dict | None = None) -> Assessment:
    """The order's fraud score with its reasons (rules + the company's latest model, if any).
    With `batch` (a bulk import's shared dict, see o2c.orders.gates.GateContext; a single order's is
    empty), the order then joins its customer's history for the next orders of the import."""
    batch = batch or None
    facts, model_row = facts_for(session, company, order, batch)
    x = rules.features(facts)
    if batch is not None and "fraud_model" in batch:
        latest = batch["fraud_model"]
    else:
        latest = _latest_model(session, company.id) if model_row is _UNREAD else _fitted(session, model_row)
        if batch is not None:
            batch["fraud_model"] = latest
    if batch is not None:
        facts.history.add(facts.at, facts.total, [(p, q) for p, _, q in facts.lines])
    return _assess_features(x, latest[1] if latest else None, latest[0] if latest else None)


# ---------------------------------------------------------------- the review queue

def open_review(session: Session, actor: Actor, company_id: int, order_id: int, a: Assessment) -> FraudReview:
    order = session.get(Order, order_id)
    review = FraudReview(company_id=company_id, order_id=order_id, customer_id=order.customer_id,
                         score=Decimal(f"{a.score:.4f}"), reasons=a.reasons(), model_id=a.model_id,
                         status="pending", created_at=clock.now())
    session.add(review)
    session.flush()
    audit.record(session, actor, "fraud_review", review.id, "opened", company_id=company_id, to_status="pending",
                 data={"order_id": order_id, "score": format(review.score, "f")})
    emit(session, "fraud.review_opened", {"review_id": review.id, "order_id": order_id,
                                          "score": format(review.score, "f")},
         company_id=company_id, entity_id=review.id)
    return review


def cancel_reviews(session: Session, actor: Actor, company_id: int, order_id: int, why: str) -> None:
    """The order was cancelled or no longer needs review: its pending reviews close without a label."""
    pending = session.scalars(select(FraudReview).where(FraudReview.order_id == order_id,
                                                        FraudReview.company_id == company_id,
                                                        FraudReview.status == "pending")).all()
    for review in pending:
        review.status = "cancelled"
        review.decided_at = clock.now()
        review.decision_reason = why
        audit.record(session, actor, "fraud_review", review.id, "cancelled", company_id=company_id,
                     from_status="pending", to_status="cancelled", reason=why, data={"order_id": order_id})


def _view(review: FraudReview, order: Order, customer_code: str) -> dict:
    return {
        "id": review.id, "order_id": review.order_id, "order_number": order.number,
        "order_status": order.status, "order_total": order.total, "currency": order.currency,
        "customer_id": review.customer_id, "customer_code": customer_code, "entered_by": order.entered_by,
        "score": review.score, "reasons": review.reasons, "model_id": review.model_id, "status": review.status,
        "label": review.label, "created_at": review.created_at, "decided_by": review.decided_by,
        "decided_at": review.decided_at, "decision_reason": review.decision_reason,
    }


def _rows(company_id: int):
    return (select(FraudReview, Order, Customer.code)
            .join(Order, Order.id == FraudReview.order_id)
            .join(Customer, Customer.id == FraudReview.customer_id)
            .where(FraudReview.company_id == company_id))


def list_reviews(session: Session, actor: Actor, company_id: int, status: str | None = "pending",
                 before_id: int | None = None, limit: int = 50) -> list[dict]:
    """The queue, newest first (status pending by default; None for every review)."""
    require(actor, "read")
    stmt = _rows(company_id).order_by(FraudReview.id.desc()).limit(limit)
    if status is not None:
        stmt = stmt.where(FraudReview.status == status)
    if before_id is not None:
        stmt = stmt.where(FraudReview.id < before_id)
    if actor.customer_id is not None:
        stmt = stmt.where(FraudReview.customer_id == -1)  # the queue is the company's, not a customer's
    return [_view(r, o, code) for r, o, code in session.execute(stmt)]


def get_review(session: Session, actor: Actor, company_id: int, review_id: int) -> dict:
    require(actor, "read")
    row = session.execute(_rows(company_id).where(FraudReview.id == review_id)).first()
    if row is None or actor.customer_id is not None:
        raise NotFound(f"fraud review {review_id} not found")
    return _view(*row)


def pending_review(session: Session, actor: Actor, company_id: int, order_id: int) -> dict:
    """The order's review waiting for a decision (NotFound when none)."""
    require(actor, "read")
    row = session.execute(_rows(company_id).where(FraudReview.order_id == order_id, FraudReview.status == "pending")
                          .order_by(FraudReview.id.desc()).limit(1)).first()
    if row is None or actor.customer_id is not None:
        raise NotFound(f"order {order_id} has no fraud review waiting")
    return _view(*row)


def decide(session: Session, actor: Actor, company_id: int, review_id: int, approve: bool, reason: str) -> dict:
    """A fraud analyst decides a review once: approve releases the order's fraud hold (label legit),
    reject cancels the order (label fraud). The user who entered the order may not decide it."""
    from o2c.orders import service as orders  # orders run the fraud gate; import at use, not at load

    require(actor, "fraud.review")
    if not (reason or "").strip():
        raise ValidationFailed.one("reason", "required", "say why the order is approved or rejected")
    review = session.scalar(select(FraudReview).where(FraudReview.id == review_id,
                                                      FraudReview.company_id == company_id).with_for_update())
    if review is None:
        raise NotFound(f"fraud review {review_id} not found")
    if review.status != "pending":
        raise Conflict(f"fraud review {review_id} was {review.status} already", current_status=review.status)
    entered_by = session.scalar(select(Order.entered_by).where(Order.id == review.order_id))
    sod.check(session, actor, "review_fraud", "enter_order", [entered_by])
    label = "legit" if approve else "fraud"
    data = {"fraud_review_id": review.id, "score": format(review.score, "f"), "label": label}
    if approve:
        order = orders.release_gate_hold(session, actor, company_id, review.order_id, KIND, reason, data)
    else:
        order = orders.reject_gate_hold(session, actor, company_id, review.order_id, KIND, reason, data)
    before = review.status
    review.status = "approved" if approve else "rejected"
    review.label = label
    review.decided_by, review.decided_at, review.decision_reason = actor.user_id, clock.now(), reason.strip()
    audit.record(session, actor, "fraud_review", review.id, review.status, company_id=company_id,
                 from_status=before, to_status=review.status, reason=reason, data={"order_id": order.id, "label": label})
    emit(session, f"fraud.review_{review.status}", {"review_id": review.id, "order_id": order.id, "label": label},
         company_id=company_id, entity_id=review.id)
    session.flush()
    code = session.scalar(select(Customer.code).where(Customer.id == review.customer_id))
    return _view(review, order, code)


def labels(session: Session, actor: Actor, company_id: int) -> list[dict]:
    """Decided reviews as training labels (the latest decision per order), oldest first."""
    require(actor, "read")
    rows = session.execute(select(FraudReview.order_id, FraudReview.label, FraudReview.decided_at,
                                  FraudReview.score, FraudReview.id)
                           .where(FraudReview.company_id == company_id, FraudReview.label.is_not(None))
                           .order_by(FraudReview.id)).all()
    latest = {r.order_id: r for r in rows}
    return [{"order_id": r.order_id, "label": r.label, "decided_at": r.decided_at, "score": r.score,
             "review_id": r.id} for r in sorted(latest.values(), key=lambda r: r.id)]


# ---------------------------------------------------------------- training

Progress = Callable[[str, int, int], None]


@dataclass
class _Bulk:
    """Every order of the company with its features, computed in one pass over each customer's orders."""

    ids: list[int] = field(default_factory=list)
    features: list[rules.Features] = field(default_factory=list)


def bulk_features(session: Session, company_id: int, progress: Progress | None = None) -> _Bulk:
    """Each order's features as the rules saw them when it was placed: each customer's orders are
    walked in time order, the history growing as it goes. The company's typical total is the median of
    all its orders (an approximation of the gate's "recent orders", for first orders only)."""
    orders = session.execute(
        select(Order.id, Order.customer_id, Order.created_at, Order.total, Order.status, Order.channel,
               Order.ship_to_country, Order.ship_to_postal_code)
        .where(Order.company_id == company_id).order_by(Order.customer_id, Order.created_at, Order.id)).all()
    lines: dict[int, list[tuple[int, str, Decimal]]] = {}
    for oid, pid, sku, q in session.execute(
            select(OrderLine.order_id, OrderLine.product_id, OrderLine.sku, OrderLine.quantity)
            .join(Order, Order.id == OrderLine.order_id).where(Order.company_id == company_id)):
        lines.setdefault(oid, []).append((pid, sku, q))
    bills = {}
    for cid, country, postal in session.execute(
            select(CustomerAddress.customer_id, CustomerAddress.country, CustomerAddress.postal_code)
            .where(CustomerAddress.kind == "billing",
                   CustomerAddress.customer_id.in_(select(Order.customer_id).where(Order.company_id == company_id)))
            .order_by(CustomerAddress.is_default, CustomerAddress.id.desc())):
        bills[cid] = (country, postal)  # the default (or first) billing address is seen last and wins
    live_totals = [o.total for o in orders if o.status != CANCELLED]
    typical = median(live_totals) if len(live_totals) >= rules.MIN_COMPANY_ORDERS else None
    risky = high_risk_countries()
    out = _Bulk()
    history, current = rules.History(), None
    n = len(orders)
    for i, o in enumerate(orders):
        if o.customer_id != current:
            history, current = rules.History(), o.customer_id
        ls = tuple(lines.get(o.id, ()))
        bill = bills.get(o.customer_id, (None, None))
        f = rules.Facts(at=o.created_at, channel=o.channel, total=o.total, lines=ls,
                        ship_country=o.ship_to_country, ship_postal=o.ship_to_postal_code,
                        bill_country=bill[0], bill_postal=bill[1], history=history,
                        company_typical_total=typical, high_risk=risky)
        out.ids.append(o.id)
        out.features.append(rules.features(f))
        history.add(o.created_at, o.total, [(p, q) for p, _, q in ls], cancelled=o.status == CANCELLED)
        if progress and (i % 500 == 0 or i == n - 1):
            progress("features", i + 1, n)
    return out


def _pr(scores: list[float], truth: list[bool], threshold: float) -> dict:
    tp = sum(1 for s, t in zip(scores, truth) if s >= threshold and t)
    fp = sum(1 for s, t in zip(scores, truth) if s >= threshold and not t)
    fn = sum(1 for s, t in zip(scores, truth) if s < threshold and t)
    return {"cases": len(truth), "fraud": sum(truth), "flagged": tp + fp, "true_positives": tp,
            "precision": round(tp / (tp + fp), 4) if tp + fp else None,
            "recall": round(tp / (tp + fn), 4) if tp + fn else None}


# Planted anomalies: an ordinary held-out order changed into a known fraud pattern, at the feature
# level. Some are blatant (one strong rule fires), some subtle (the rules alone stay under the
# threshold), so the comparison with the rules alone shows what the model adds.
PLANTED_PATTERNS = ("quantity_x20", "quantity_x6", "burst", "far_high_risk", "abroad_quantity_x3")


def _planted(x: rules.Features, pattern: str, risky: frozenset[str]) -> rules.Features:
    def more(mult: float) -> rules.Features:
        base = x.qty_usual or max(x.qty_value or 1.0, 1.0)
        return replace(x, qty_ratio=mult, qty_z=max(x.qty_z or 0.0, mult * 2), qty_value=base * mult,
                       qty_usual=base, qty_sku=x.qty_sku or "?", total=x.total * mult,
                       total_ratio=(x.total_ratio or 1.0) * mult)
    if pattern == "quantity_x20":
        return more(20)
    if pattern == "quantity_x6":
        return more(6)
    if pattern == "abroad_quantity_x3":
        return replace(more(3), ship_distance=2, ship_country="ZZ")
    if pattern == "burst":
        return replace(x, orders_1h=x.orders_1h + 10, orders_24h=x.orders_24h + 10)
    country = sorted(risky)[0] if risky else "ZZ"
    return replace(x, ship_distance=2, ship_country=country, high_risk_destination=bool(risky))


def held_out(order_ids, rng: random.Random) -> set[int]:
    """The orders kept out of training: a seeded HOLD_OUT share, drawn in id order."""
    return {oid for oid in sorted(order_ids) if rng.random() < HOLD_OUT}


def score_features(fitted: forest.Fitted | None, feats: list[rules.Features]) -> list[float]:
    """Combined scores of many orders' features (the model scores them in one call)."""
    r = [rules.rule_score(rules.hits(x)) for x in feats]
    if fitted is None or not feats:
        return r
    m = fitted.score(np.asarray([rules.vector(x) for x in feats]))
    return [rules.combine(a, float(b)) for a, b in zip(r, m)]


def train(session: Session, actor: Actor, company_id: int, progress: Progress | None = None, *,
          seed: int = 0, n_estimators: int = 200, contamination: float = 0.01) -> FraudModel:
    """Train the company's anomaly model on its order history and evaluate it on held-out orders:
    the labelled ones (fraud review decisions) and planted anomalies (synthetic, see _planted).
    Orders labelled fraud are kept out of training. Needs fraud.train."""
    require(actor, "fraud.train")
    if not 0 < contamination < 0.5:
        raise ValidationFailed.one("contamination", "out_of_range", "contamination must be between 0 and 0.5")
    if not 10 <= n_estimators <= 2000:
        raise ValidationFailed.one("n_estimators", "out_of_range", "n_estimators must be 10..2000")
    company = session.get(Company, company_id)
    threshold = float(company.fraud_review_threshold)
    bulk = bulk_features(session, company_id, progress)
    if len(bulk.ids) < MIN_TRAINING_ORDERS:
        raise ValidationFailed.one("orders", "too_few",
                                   f"the company has {len(bulk.ids)} orders; training needs {MIN_TRAINING_ORDERS}")
    label_of = {r["order_id"]: r["label"] for r in labels(session, actor, company_id)}
    rng = random.Random(seed)
    held = held_out(bulk.ids, rng)
    vectors = [rules.vector(x) for x in bulk.features]
    train_rows = [v for oid, v in zip(bulk.ids, vectors) if oid not in held and label_of.get(oid) != "fraud"]
    if len(train_rows) < MIN_TRAINING_ORDERS:
        raise ValidationFailed.one("orders", "too_few", f"{len(train_rows)} orders left to train on; "
                                                        f"training needs {MIN_TRAINING_ORDERS}")
    fitted = forest.fit(np.asarray(train_rows), seed=seed, n_estimators=n_estimators, contamination=contamination,
                        progress=(lambda d, t: progress("trees", d, t)) if progress else None)

    def scores(feats: list[rules.Features]) -> tuple[list[float], list[float]]:
        return score_features(fitted, feats), score_features(None, feats)

    held_feats = [(oid, x) for oid, x in zip(bulk.ids, bulk.features) if oid in held]
    labelled = [(x, label_of[oid] == "fraud") for oid, x in held_feats if oid in label_of]
    s, r = scores([x for x, _ in labelled])
    truth = [t for _, t in labelled]
    metrics = {
        "threshold": threshold, "orders": len(bulk.ids), "training_orders": len(train_rows),
        "held_out_orders": len(held_feats), "labels": len(label_of),
        "labelled": {"source": "fraud review decisions on held-out orders",
                     "model_and_rules": _pr(s, truth, threshold), "rules_only": _pr(r, truth, threshold)},
    }
    risky = high_risk_countries()
    normal = [x for oid, x in held_feats if oid not in label_of]
    rng.shuffle(normal)
    normal = normal[:PLANTED_MAX]
    planted = [_planted(x, PLANTED_PATTERNS[i % len(PLANTED_PATTERNS)], risky) for i, x in enumerate(normal)]
    if progress:
        progress("evaluating", 0, 1)
    s, r = scores(normal + planted)
    truth = [False] * len(normal) + [True] * len(planted)
    metrics["planted"] = {
        "source": "synthetic: each unlabelled held-out order (taken as legitimate) and a copy changed into "
                  "one of " + ", ".join(PLANTED_PATTERNS),
        "model_and_rules": _pr(s, truth, threshold), "rules_only": _pr(r, truth, threshold),
    }
    if progress:
        progress("evaluating", 1, 1)
    row = FraudModel(company_id=company_id, algorithm="isolation_forest", features=list(fitted.names),
                     params={"key": uuid.uuid4().hex, "seed": seed, "n_estimators": n_estimators,
                             "contamination": contamination, "hold_out": HOLD_OUT},
                     blob=forest.dumps(fitted), trained_on=len(train_rows), metrics=metrics,
                     trained_by=actor.user_id, trained_at=clock.now())
    session.add(row)
    session.flush()
    with _MODELS_LOCK:
        _MODELS[row.params["key"]] = fitted
    audit.record(session, actor, "fraud_model", row.id, "trained", company_id=company_id, data=metrics)
    emit(session, "fraud.model_trained", {"model_id": row.id, "trained_on": row.trained_on},
         company_id=company_id, entity_id=row.id)
    return row


def model_view(m: FraudModel) -> dict:
    return {"id": m.id, "algorithm": m.algorithm, "features": m.features,
            "params": {k: v for k, v in m.params.items() if k != "key"}, "trained_on": m.trained_on,
            "metrics": m.metrics, "trained_by": m.trained_by, "trained_at": m.trained_at}


def latest_model(session: Session, actor: Actor, company_id: int) -> dict:
    require(actor, "read")
    m = session.scalar(select(FraudModel).where(FraudModel.company_id == company_id)
                       .order_by(FraudModel.id.desc()).limit(1))
    if m is None:
        raise NotFound("no fraud model has been trained for this company")
    return model_view(m)
