"""The two shapes of a write: a create that honours Idempotency-Key, and a plain change."""
from __future__ import annotations

from collections.abc import Callable

from fastapi.responses import JSONResponse
from pydantic import BaseModel
from sqlalchemy.orm import Session

from o2c.core import idempotency
from o2c.core.db import transaction
from o2c.web.deps import Ctx


def create(ctx: Ctx, key: str | None, path: str, data: BaseModel, out: type[BaseModel],
           fn: Callable[[Session], object], status_code: int = 201) -> JSONResponse:
    """`status_code` 202 for a request that is accepted but waits (a change awaiting approval)."""
    req_hash = idempotency.request_hash("POST", f"{ctx.company_id}:{path}", data.model_dump_json().encode())

    def work(session: Session) -> tuple[int, dict]:
        result = fn(session)
        return status_code, out.model_validate(result).model_dump(mode="json")

    status, body, replayed = idempotency.run(ctx.actor, key, req_hash, work)
    return JSONResponse(body, status_code=status, headers={"Idempotent-Replayed": "true"} if replayed else None)


def change(out: type[BaseModel], fn: Callable[[Session], object]) -> dict:
    """Run a change in one transaction and render its result inside it (lazy attributes still load)."""
    return transaction(lambda session: out.model_validate(fn(session)).model_dump(mode="json"))
