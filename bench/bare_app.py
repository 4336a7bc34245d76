"""The bare ceiling for bench_order_submit: FastAPI + a psycopg connection pool, one INSERT per request.

It takes the same JSON body as POST /api/v1/orders (parsed as a plain dict, no validation) and stores it
as one row, in the same execution model as o2c (a sync endpoint in FastAPI's thread pool, a pool of
connections per worker process). Run by the benchmark as
    BARE_DATABASE_URL=postgresql://postgres@127.0.0.1:5432/DB uvicorn bench.bare_app:app --workers 2
and it creates its table on start-up.
"""
from __future__ import annotations

import os
from contextlib import asynccontextmanager

from fastapi import Body, FastAPI, Header
from fastapi.responses import JSONResponse
from psycopg.types.json import Jsonb
from psycopg_pool import AsyncConnectionPool, ConnectionPool

DSN = os.environ.get("BARE_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
POOL_SIZE = int(os.environ.get("BARE_POOL_SIZE", "10"))

pool: ConnectionPool | None = None
apool: AsyncConnectionPool | None = None


@asynccontextmanager
async def lifespan(app: FastAPI):
    global pool, apool
    pool = ConnectionPool(DSN, min_size=POOL_SIZE, max_size=POOL_SIZE * 2, open=True)
    apool = AsyncConnectionPool(DSN, min_size=POOL_SIZE, max_size=POOL_SIZE * 2, open=False)
    await apool.open()
    with pool.connection() as conn:
        conn.execute(
            "CREATE TABLE IF NOT EXISTS bare_rows (id bigserial PRIMARY KEY, idempotency_key text, "
            "po_number text, body jsonb NOT NULL, created_at timestamptz NOT NULL DEFAULT now())"
        )
    yield
    pool.close()
    await apool.close()


app = FastAPI(lifespan=lifespan)


@app.get("/health")
def health():
    return {"status": "ok"}


@app.post("/rows", status_code=201)
def create_row(body: dict = Body(...), idempotency_key: str | None = Header(None)):
    with pool.connection() as conn:
        row_id = conn.execute(
            "INSERT INTO bare_rows (idempotency_key, po_number, body) VALUES (%s, %s, %s) RETURNING id",
            (idempotency_key, body.get("po_number"), Jsonb(body)),
        ).fetchone()[0]
    return JSONResponse({"id": row_id}, status_code=201)


@app.post("/rows-async", status_code=201)
async def create_row_async(body: dict = Body(...), idempotency_key: str | None = Header(None)):
    """The same with an async endpoint and an async pool (no thread hand-off): a higher ceiling."""
    async with apool.connection() as conn:
        cur = await conn.execute(
            "INSERT INTO bare_rows (idempotency_key, po_number, body) VALUES (%s, %s, %s) RETURNING id",
            (idempotency_key, body.get("po_number"), Jsonb(body)),
        )
        row_id = (await cur.fetchone())[0]
    return JSONResponse({"id": row_id}, status_code=201)
