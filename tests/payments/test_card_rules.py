"""Card payment rules, pure: when an order waits for its card, which hold a shipment's capture takes, and
how a return's refund goes back."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone
from decimal import Decimal as D

import pytest

from o2c.payments import card_rules as r

NOW = datetime(2026, 12, 1, 12, 0, tzinfo=timezone.utc)


@pytest.mark.parametrize("statuses, waits", [
    ([], False),                                   # no card: paid on invoice, ships as usual
    (["pending"], True),                           # the gateway has not answered
    (["declined"], True),
    (["action_required"], True),                   # 3-D Secure not done
    (["declined", "authorised"], False),           # the second card holds the money
    (["captured", "declined"], False),             # paid for a shipment; the next one's card was refused
    (["expired"], False),                          # authorised again at capture
    (["voided"], True),
])
def test_an_order_waits_until_one_attempt_holds_or_took_money(statuses, waits):
    assert r.waits_for_card(statuses) is waits


def test_the_waiting_reason_names_what_to_do():
    assert r.waiting_reason("declined", "insufficient_funds") == (
        "waiting for card authorisation: the card was declined (insufficient_funds); another card can be tried")
    assert "same key" in r.waiting_reason("pending")
    assert "3-D Secure" in r.waiting_reason("action_required")


def test_a_failed_charge_at_shipment_is_explained_when_its_code_does_not_say_what_happened():
    assert r.later_charge_failure("insufficient_funds") == "insufficient_funds"
    assert r.later_charge_failure("authentication_required") == (
        "authentication_required: the card issuer wants the customer to confirm this charge, which cannot be "
        "asked at shipment")


def _hold(i, status="authorised", amount="100.00", expires=NOW + timedelta(days=5), claimed=False):
    return r.Hold(i, status, D(amount), expires, claimed)


def test_the_first_shipment_takes_the_oldest_hold_that_covers_it():
    holds = [_hold(1, "declined"), _hold(2, amount="50.00"), _hold(3), _hold(4)]
    assert r.hold_for_capture(holds, D("80.00"), NOW).id == 3  # 2 is too small
    assert r.hold_for_capture(holds, D("50.00"), NOW).id == 2


def test_a_hold_captured_once_or_near_its_end_is_not_taken():
    assert r.hold_for_capture([_hold(1, claimed=True)], D("10.00"), NOW) is None  # captures once: authorise again
    assert r.hold_for_capture([_hold(1, "captured")], D("10.00"), NOW) is None
    ends = NOW + r.EXPIRY_MARGIN
    assert r.hold_for_capture([_hold(1, expires=ends)], D("10.00"), NOW) is None
    assert r.hold_for_capture([_hold(1, expires=ends + timedelta(seconds=1))], D("10.00"), NOW).id == 1
    assert r.hold_for_capture([_hold(1, expires=None)], D("10.00"), NOW) is None


def test_stale_holds_are_the_unclaimed_authorised_ones_near_their_end():
    holds = [_hold(1, expires=NOW), _hold(2), _hold(3, expires=NOW, claimed=True), _hold(4, "declined", expires=NOW)]
    assert [h.id for h in r.stale_holds(holds, NOW)] == [1]
    assert r.expires_at(NOW) == NOW + timedelta(days=7)


def _paid(note, amount, card=None):
    return r.PaidCredit(note, D(amount), card)


def test_nothing_paid_nothing_refunded():
    assert r.refund_plan([], {}) is None
    assert r.refund_plan([_paid("CN-1", "0.00", 7)], {7: D("10.00")}) is None


def test_a_refund_goes_back_on_the_cards_that_paid_each_share():
    plan = r.refund_plan([_paid("CN-1", "26.57", 7), _paid("CN-2", "10.62", 9), _paid("CN-3", "0.00")],
                         {7: D("85.01"), 9: D("10.62")})
    assert plan == r.RefundPlan("card", D("37.19"), (("CN-1", D("26.57")), ("CN-2", D("10.62"))),
                                ((7, D("26.57")), (9, D("10.62"))))


def test_a_refund_is_never_split_over_methods_and_never_above_what_a_card_can_return():
    mixed = r.refund_plan([_paid("CN-1", "20.00", 7), _paid("CN-2", "5.00")], {7: D("20.00")})
    assert (mixed.method, mixed.amount, mixed.card_parts) == ("bank_transfer", D("25.00"), ())
    over = r.refund_plan([_paid("CN-1", "20.00", 7), _paid("CN-2", "5.00", 7)], {7: D("24.99")})
    assert (over.method, over.amount) == ("bank_transfer", D("25.00"))
    exact = r.refund_plan([_paid("CN-1", "20.00", 7), _paid("CN-2", "5.00", 7)], {7: D("25.00")})
    assert exact.card_parts == ((7, D("25.00")),)
