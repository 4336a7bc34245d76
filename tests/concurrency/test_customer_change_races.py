"""On PostgreSQL, two approvers approving the same bank account change at the same moment: the
customer's account row is locked first, so the second waits, then finds the change approved (409).
The account is put on file once and the change is version 1, never applied twice. The first
transaction is held open while the second is sent through the API, so the interleaving is fixed."""
from __future__ import annotations

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from o2c.core.auth import actor_for_user
from o2c.core.db import dispose_engines, read_session, transaction
from o2c.core.models import OutboxEvent, User
from o2c.core.settings import get_settings
from o2c.customers import changes
from o2c.customers.models import CustomerBankAccount
from o2c.web.app import create_app
from tests.concurrency.test_fulfilment_races import finished, held_open, meanwhile
from tests.conftest import Api
from tests.world import make

pytestmark = pytest.mark.postgres_only


def test_two_approvers_at_once_apply_the_change_once(pg):
    world = make()
    ids = world["ids"]
    with read_session() as s:
        onboarder, steward = (actor_for_user(s, s.get(User, ids[u])) for u in ("onboarder", "steward"))
    change_id = transaction(lambda s: changes.request_change(
        s, onboarder, ids["company"], ids["BIGBUY"], "bank_account",
        {"action": "add", "iban": "DE89370400440532013000"}, "new bank").id)
    try:
        with TestClient(create_app(), raise_server_exceptions=False) as client:
            api = Api(client, world["keys"])
            with held_open(lambda s: changes.approve_change(s, steward, ids["company"], change_id, "first")):
                thread, answer = meanwhile(lambda: api.post(f"/customers/changes/{change_id}/approve", user="admin"))
            second = finished(thread, answer)
            assert second.status_code == 409 and "approved already" in second.json()["detail"], second.text
            with read_session() as s:
                assert s.scalar(select(func.count()).select_from(CustomerBankAccount)
                                .where(CustomerBankAccount.customer_id == ids["BIGBUY"])) == 1
                assert s.scalar(select(func.count()).select_from(OutboxEvent)
                                .where(OutboxEvent.topic == "customer.changed")) == 1
            [done] = api.get(f"/customers/{ids['BIGBUY']}/changes", user="viewer").json()
            assert (done["status"], done["version"], done["decided_by"]) == ("approved", 1, "steward")
    finally:
        dispose_engines()
        get_settings.cache_clear()
