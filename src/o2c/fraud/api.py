"""Routes of fraud screening: the review queue (/fraud-reviews), decisions, labels, and the model."""
from __future__ import annotations

from datetime import datetime
from typing import Literal

from fastapi import APIRouter, Query
from pydantic import Field

from o2c.core.db import read_session
from o2c.core.schemas import DecimalStr, IdPath, OutModel, Page, StrictModel
from o2c.fraud import service
from o2c.web.deps import CtxDep, ReaderDep, cursor_to_id
from o2c.web.responses import change

router = APIRouter(prefix="/fraud-reviews", tags=["fraud"])


class ReviewOut(OutModel):
    id: int
    order_id: int
    order_number: str
    order_status: str
    order_total: DecimalStr
    currency: str
    customer_id: int
    customer_code: str
    entered_by: int | None
    score: DecimalStr
    reasons: list[dict]
    model_id: int | None
    status: str
    label: str | None
    created_at: datetime
    decided_by: int | None
    decided_at: datetime | None
    decision_reason: str | None


class DecisionIn(StrictModel):
    reason: str = Field("", max_length=2000)


class LabelOut(OutModel):
    order_id: int
    label: str
    decided_at: datetime | None
    score: DecimalStr
    review_id: int


class TrainIn(StrictModel):
    seed: int = Field(0, ge=0, le=2**31 - 1)
    n_estimators: int = Field(200, ge=10, le=2000)
    contamination: float = Field(0.01, gt=0, lt=0.5)


class ModelOut(OutModel):
    id: int
    algorithm: str
    features: list[str]
    params: dict
    trained_on: int
    metrics: dict
    trained_by: int | None
    trained_at: datetime


@router.get("/model", response_model=ModelOut)
def latest_model(ctx: ReaderDep):
    """The company's newest model and its quality on held-out orders."""
    with read_session() as s:
        return ModelOut.model_validate(service.latest_model(s, ctx.actor, ctx.company_id))


@router.post("/model/train", status_code=201, response_model=ModelOut)
def train(ctx: CtxDep, data: TrainIn | None = None):
    """Train a new model on the order history (needs fraud.train); it scores the orders that come next."""
    data = data or TrainIn()
    return change(ModelOut, lambda s: service.model_view(service.train(
        s, ctx.actor, ctx.company_id, seed=data.seed, n_estimators=data.n_estimators,
        contamination=data.contamination)))


@router.get("/labels", response_model=list[LabelOut])
def labels(ctx: ReaderDep):
    """Decided reviews as labels for retraining (fraud or legit, the latest per order)."""
    with read_session() as s:
        return [LabelOut.model_validate(r) for r in service.labels(s, ctx.actor, ctx.company_id)]


@router.get("", response_model=Page[ReviewOut])
def queue(ctx: ReaderDep, status: Literal["pending", "approved", "rejected", "cancelled", "all"] = "pending",
          cursor: str | None = None, limit: int = Query(50, ge=1, le=500)):
    with read_session() as s:
        items = service.list_reviews(s, ctx.actor, ctx.company_id, None if status == "all" else status,
                                     cursor_to_id(cursor), limit)
        return Page[ReviewOut](items=items, next_cursor=str(items[-1]["id"]) if len(items) == limit else None)


@router.get("/{review_id}", response_model=ReviewOut)
def get_review(review_id: IdPath, ctx: ReaderDep):
    with read_session() as s:
        return ReviewOut.model_validate(service.get_review(s, ctx.actor, ctx.company_id, review_id))


@router.post("/{review_id}/approve", response_model=ReviewOut)
def approve(review_id: IdPath, data: DecisionIn, ctx: CtxDep):
    """Release the order's fraud hold (label legit); it moves on unless another hold remains."""
    return change(ReviewOut, lambda s: service.decide(s, ctx.actor, ctx.company_id, review_id, True, data.reason))


@router.post("/{review_id}/reject", response_model=ReviewOut)
def reject(review_id: IdPath, data: DecisionIn, ctx: CtxDep):
    """Cancel the order (label fraud)."""
    return change(ReviewOut, lambda s: service.decide(s, ctx.actor, ctx.company_id, review_id, False, data.reason))
