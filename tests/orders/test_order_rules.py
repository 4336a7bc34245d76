"""Order rules: the status machine and the reasons an order is held."""
from dataclasses import replace
from datetime import date
from decimal import Decimal as D

import pytest

from o2c.core.errors import Conflict, FieldError
from o2c.orders import rules
from o2c.orders.rules import LineFacts, OrderFacts, check_transition, hold_reasons

TODAY = date(2026, 11, 25)
LINE = LineFacts(index=0, sku="WIDGET", active=True, quantity=D(5), uom="EA", uom_decimals=0,
                 order_multiple=None, list_price=D("10.00"), given_price=None, override_reason=None)
FACTS = OrderFacts(lines=[LINE], address_errors=[], duplicate_of=None, duplicate_accepted=False,
                   requested_date=None, today=TODAY, threshold_pct=D(10))


def reasons(facts):
    return {k: [(e.field, e.code) for e in v] for k, v in hold_reasons(facts).by_kind.items()}


def test_a_clean_order_has_no_reasons():
    assert hold_reasons(FACTS).clean


@pytest.mark.parametrize("change,expected", [
    ({"active": False}, ("lines[0].sku", "inactive")),
    ({"quantity": D("2.5")}, ("lines[0].quantity", "invalid_for_unit")),
    ({"order_multiple": D(12), "quantity": D(18)}, ("lines[0].quantity", "not_a_multiple")),
    ({"list_price": None}, ("lines[0].unit_price", "no_list_price")),
    ({"given_price": D("9.50")}, ("lines[0].override_reason", "required")),
])
def test_each_line_problem_is_a_validation_reason_naming_the_field(change, expected):
    assert reasons(replace(FACTS, lines=[replace(LINE, **change)])) == {"validation": [expected]}


def test_a_price_override_within_the_threshold_passes_and_beyond_it_needs_an_approver():
    within = replace(LINE, given_price=D("9.00"), override_reason="loyalty")
    assert hold_reasons(replace(FACTS, lines=[within])).clean
    beyond = replace(LINE, given_price=D("8.99"), override_reason="loyalty")
    assert reasons(replace(FACTS, lines=[beyond])) == {"pricing": [("lines[0].unit_price", "override_beyond_threshold")]}
    assert hold_reasons(replace(FACTS, lines=[beyond], pricing_approved=True)).clean


def test_a_price_equal_to_the_list_is_not_an_override():
    assert hold_reasons(replace(FACTS, lines=[replace(LINE, given_price=D("10.00"))])).clean


def test_an_order_discount_needs_a_reason_and_beyond_the_threshold_an_approver():
    f = replace(FACTS, subtotal=D(100), order_discount=D(5))
    assert reasons(f) == {"validation": [("order_discount_reason", "required")]}
    assert hold_reasons(replace(f, order_discount_reason="volume")).clean
    big = replace(f, order_discount=D(25), order_discount_reason="volume")
    assert reasons(big) == {"pricing": [("order_discount", "override_beyond_threshold")]}


def test_address_date_and_duplicate_problems():
    f = replace(FACTS, address_errors=[FieldError("ship_to.postal_code", "invalid", "bad")],
                requested_date=date(2026, 11, 24), duplicate_of="SO00000007")
    assert reasons(f) == {
        "validation": [("ship_to.postal_code", "invalid"), ("requested_date", "in_the_past")],
        "duplicate": [("po_number", "duplicate")],
    }
    assert "SO00000007" in hold_reasons(f).by_kind["duplicate"][0].message
    assert "duplicate" not in reasons(replace(f, duplicate_accepted=True))


@pytest.mark.parametrize("current,target", [
    ("held", "validated"), ("validated", "confirmed"), ("validated", "backordered"),
    ("backordered", "confirmed"), ("confirmed", "cancelled"), ("held", "cancelled"), ("confirmed", "held"),
])
def test_allowed_transitions(current, target):
    check_transition(current, target)


@pytest.mark.parametrize("current,target", [
    ("cancelled", "confirmed"), ("held", "confirmed"), ("cancelled", "held"), ("confirmed", "validated"),
])
def test_illegal_transitions_are_refused_with_the_states_named(current, target):
    with pytest.raises(Conflict) as exc:
        check_transition(current, target)
    assert current in exc.value.detail and target in exc.value.detail


def test_every_status_has_a_row_in_the_machine():
    assert set(rules.STATUSES) <= set(rules.TRANSITIONS)


def test_messages_write_numbers_as_people_do():
    f = replace(FACTS, threshold_pct=D("10.0000"), lines=[replace(
        LINE, list_price=D("42.0000"), given_price=D("30.5000"), override_reason="x",
        order_multiple=D("100.000"), quantity=D("120.000"))])
    text = " ".join(e.message for v in hold_reasons(f).by_kind.values() for e in v)
    assert "multiples of 100 EA; 120 is not one" in text
    assert "unit price 30.5 is 27.4% from the list price 42 (more than the 10% a desk may grant)" in text
    assert "E+" not in text
