"""On PostgreSQL, customers racing to return the same delivered units: requests for one order are
serialised on the order's row, so no more is ever asked back than was delivered."""
from __future__ import annotations

import threading
from decimal import Decimal

from fastapi.testclient import TestClient
from sqlalchemy import func, select

from o2c.core.auth import actor_for_user
from o2c.core.db import read_session, transaction
from o2c.core.errors import ValidationFailed
from o2c.core.models import User
from o2c.returns import service
from o2c.returns.models import Return, ReturnLine
from o2c.returns.schemas import ReturnIn
from o2c.web.app import create_app
from tests.conftest import Api
from tests.fulfillment.flow import place
from tests.returns.delivery import add_carriers, deliver
from tests.returns.test_story_returns import DELIVERED_AT, at
from tests.world import make

CLIENTS = 8


def test_racing_requests_never_ask_back_more_than_was_delivered(pg):
    world = make()
    with TestClient(create_app(), raise_server_exceptions=False) as client:
        api = Api(client, world["keys"])
        add_carriers(api)
        at(2026, 11, 23, 15)
        order = place(api, "TIDY", [("WIDGET", "5")])
        deliver(api, order["id"], DELIVERED_AT)
    at(2026, 12, 1, 16)
    with read_session() as s:
        staff = actor_for_user(s, s.get(User, world["ids"]["admin"]))
    ask = ReturnIn(order_id=order["id"], outcome="refund", lines=[{"line_no": 1, "quantity": "2", "reason": "defective"}])
    outcomes: list[str] = []
    start = threading.Barrier(CLIENTS)

    def client_run():
        start.wait()
        try:
            transaction(lambda s: service.request(s, staff, world["ids"]["company"], ask))
            outcomes.append("requested")
        except ValidationFailed as exc:
            outcomes.append(exc.errors[0].field)

    threads = [threading.Thread(target=client_run) for _ in range(CLIENTS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(outcomes) == ["lines[0].quantity"] * (CLIENTS - 2) + ["requested"] * 2
    with read_session() as s:
        assert s.scalar(select(func.count(Return.id))) == 2
        assert s.scalar(select(func.sum(ReturnLine.quantity))) == Decimal(4)
