"""People of the return stories: customer service, and a portal user for two customers."""
from __future__ import annotations

import pytest

from o2c.core.auth import create_user, issue_api_key
from o2c.core.db import transaction


@pytest.fixture
def people(api, world):
    """Adds `service` (customer service), `tidy` (TIDY's portal user) and `bigbuy` (BIGBUY's portal
    user) to the API's speakers."""
    ids = world["ids"]

    def build(session):
        keys = {}
        for name, roles, customer in (("service", ["customer_service"], None), ("tidy", ["customer"], ids["TIDY"]),
                                      ("bigbuy", ["customer"], ids["BIGBUY"])):
            user = create_user(session, name, roles, [ids["company"]], customer_id=customer)
            keys[name] = issue_api_key(session, user)
        return keys

    api.keys.update(transaction(build))
    return api
