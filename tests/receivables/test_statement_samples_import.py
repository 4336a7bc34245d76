"""Every real statement sample (tests/fixtures/03-bank-statements: camt.053 and the MT940 files of ten
banks) goes through the import use case: it is stored with all its lines, or refused with the reason the
reader gives, naming the element or line, and nothing is stored. A file imported is refused the second
time, naming the first import."""
from __future__ import annotations

import pytest
from sqlalchemy import func, select

from o2c.core.auth import actor_for_user, create_user
from o2c.core.db import read_session, transaction
from o2c.core.errors import Conflict
from o2c.core.setup import create_company
from o2c.payments.models import Payment
from o2c.receivables import service
from o2c.receivables.models import BankStatement, BankStatementLine
from o2c.receivables.statements import StatementError
from tests.receivables.test_statements import EXPECTED, SAMPLES, read


@pytest.fixture
def cashier(db):
    def build(s):
        company, _ = create_company(s, "ACME", "Acme Supply Inc.", "USD", "US", "America/Chicago", admin=None)
        return actor_for_user(s, create_user(s, "cashier", ["receivables"], [company.id])), company.id

    return transaction(build)


def stored() -> tuple[int, int, int]:
    with read_session() as s:
        return tuple(s.scalar(select(func.count()).select_from(m)) for m in (BankStatement, BankStatementLine, Payment))


@pytest.mark.parametrize("name", SAMPLES)
def test_sample_is_imported_or_refused_with_its_reason(cashier, name):
    actor, company_id = cashier
    outcome, *expect = EXPECTED[name]
    data = read(name)

    def run(s):
        return service.import_statement(s, actor, company_id, data, name)

    if outcome == "imports":
        n_statements, n_lines = expect
        result = transaction(run)
        assert len(result.statements) == n_statements
        assert sum(st.line_count for st in result.statements) == n_lines
        assert stored() == (n_statements, n_lines, 0)  # no invoice is open: nothing is booked
        for st in result.statements:
            counts = result.counts[st.id]
            assert counts["auto"] == 0 and sum(counts.values()) == st.line_count
        with pytest.raises(Conflict) as again:
            transaction(run)
        assert again.value.extra["earlier"][0]["id"] == result.statements[0].id
        assert "imported already" in again.value.detail
        assert stored() == (n_statements, n_lines, 0)
    else:
        location, reason = expect[:2]
        with pytest.raises(StatementError) as refused:
            transaction(run)
        assert refused.value.location == location and reason in refused.value.message
        assert refused.value.errors[0].field == location
        assert stored() == (0, 0, 0)
