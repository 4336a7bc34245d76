"""Return rules: what may be returned and until when, the status machine, receipt and inspection
checks, and refunds that add up to the cent."""
from __future__ import annotations

from datetime import date
from decimal import Decimal as D

import pytest
from hypothesis import given
from hypothesis import strategies as st

from o2c.core.errors import Conflict, ValidationFailed
from o2c.returns import rules
from o2c.returns.rules import LineFacts, RefundLine, RequestLine, Verdict

DELIVERED = date(2026, 11, 26)
TODAY = date(2026, 12, 1)


def facts(**lines) -> dict[int, LineFacts]:
    """line_no -> LineFacts; defaults: 5 shipped and delivered on DELIVERED, nothing in returns."""
    out = {}
    for key, kw in lines.items():
        n = int(key.removeprefix("l"))
        base = dict(line_no=n, shipped=D(5), delivered=D(5), in_returns=D(0), last_delivered_on=DELIVERED)
        out[n] = LineFacts(**(base | kw))
    return out


def refused(lines, f, today=TODAY, window=30) -> dict[str, str]:
    with pytest.raises(ValidationFailed) as exc:
        rules.check_request("SO00000001", lines, f, today, window)
    assert exc.value.status == 422
    return {e.field: e.message for e in exc.value.errors}


# --- the window ---------------------------------------------------------------------------------

def test_the_window_includes_its_last_day():
    assert rules.window_closes(DELIVERED, 30) == date(2026, 12, 26)
    assert rules.in_window(date(2026, 12, 26), DELIVERED, 30)
    assert not rules.in_window(date(2026, 12, 27), DELIVERED, 30)
    assert rules.in_window(DELIVERED, DELIVERED, 0)  # a zero-day policy still allows the delivery day


def test_past_the_window_for_the_whole_order_names_the_order():
    errors = refused([RequestLine(1, D(1), "defective")], facts(l1={}, l2={}), today=date(2026, 12, 27))
    assert errors == {"order_id": "the return window of order SO00000001 closed on 2026-12-26 (30 days after delivery)"}


def test_past_the_window_for_one_line_names_that_line():
    f = facts(l1={}, l2={"last_delivered_on": date(2026, 12, 10)})  # line 2 came in a later parcel
    errors = refused([RequestLine(1, D(1), "defective"), RequestLine(2, D(1), "defective")], f,
                     today=date(2026, 12, 27))
    assert errors == {"lines[0].line_no": "the return window for line 1 closed on 2026-12-26"}
    rules.check_request("SO1", [RequestLine(2, D(1), "defective")], f, date(2026, 12, 27), 30)  # line 2 is fine


def test_on_the_last_day_a_return_is_accepted():
    rules.check_request("SO1", [RequestLine(1, D(5), "defective")], facts(l1={}), date(2026, 12, 26), 30)


# --- how much --------------------------------------------------------------------------------------

def test_no_more_than_delivered_and_not_yet_returned():
    errors = refused([RequestLine(2, D(4), "no_longer_needed")], facts(l2={"in_returns": D(2)}))
    assert errors == {"lines[0].quantity": "only 3 of line 2 were delivered and not yet returned "
                                           "(delivered 5, in returns 2; asked 4)"}
    rules.check_request("SO1", [RequestLine(2, D(3), "no_longer_needed")], facts(l2={"in_returns": D(2)}), TODAY, 30)


def test_a_partly_delivered_line_returns_only_what_arrived():
    f = facts(l1={"shipped": D(5), "delivered": D(3)})  # 2 are still with the carrier
    assert "only 3 of line 1" in refused([RequestLine(1, D(4), "defective")], f)["lines[0].quantity"]


def test_lines_never_delivered_or_still_travelling_are_named():
    f = facts(l1={}, l2={"shipped": D(0), "delivered": D(0), "last_delivered_on": None},
              l3={"shipped": D(2), "delivered": D(0), "last_delivered_on": None})
    errors = refused([RequestLine(2, D(1), "defective"), RequestLine(3, D(1), "defective"),
                      RequestLine(9, D(1), "defective")], f)
    assert errors == {
        "lines[0].line_no": "line 2 was never delivered",
        "lines[1].line_no": "line 3 has shipped but is not delivered yet; it can be returned once it arrives",
        "lines[2].line_no": "order SO00000001 has no line 9",
    }


def test_an_order_with_nothing_delivered_is_not_past_any_window():
    f = facts(l1={"shipped": D(0), "delivered": D(0), "last_delivered_on": None})
    assert set(refused([RequestLine(1, D(1), "defective")], f, today=date(2030, 1, 1))) == {"lines[0].line_no"}


def test_a_line_named_twice_is_refused():
    errors = refused([RequestLine(1, D(1), "defective"), RequestLine(1, D(1), "wrong_item")], facts(l1={}))
    assert errors == {"lines[1].line_no": "line 1 is named twice; give its quantity once"}


def test_half_a_piece_is_not_returned():
    errors = refused([RequestLine(1, D("0.5"), "defective")], facts(l1={}))
    assert errors["lines[0].quantity"].startswith("lines[0].quantity 0.5 has more than 0 decimals")
    rules.check_request("SO1", [RequestLine(1, D("2.5"), "defective")], facts(l1={"uom_decimals": 3}), TODAY, 30)


def test_reasons_are_known_codes_and_other_needs_words():
    errors = refused([RequestLine(1, D(1), "meh"), RequestLine(2, D(1), "other", "  ")], facts(l1={}, l2={}))
    assert errors["lines[0].reason"].startswith("lines[0].reason must be one of damaged_in_transit, defective")
    assert errors["lines[1].reason_text"] == "lines[1].reason_text: say what the reason is"
    rules.check_request("SO1", [RequestLine(1, D(1), "other", "gift, not wanted")], facts(l1={}), TODAY, 30)


def test_every_problem_is_reported_at_once():
    errors = refused([RequestLine(1, D(9), "meh"), RequestLine(7, D(1), "defective")], facts(l1={}))
    assert set(errors) == {"lines[0].reason", "lines[0].quantity", "lines[1].line_no"}


@pytest.mark.parametrize("status,counted", [("requested", "2"), ("authorised", "2"), ("received", "1"),
                                            ("inspected", "1"), ("closed", "1"), ("rejected", "0")])
def test_what_a_return_holds_back(status, counted):
    # 2 asked, 1 arrived: once received, the other one may be asked for again
    assert rules.counted_in_return(status, D(2), D(1)) == D(counted)


# --- status machine -----------------------------------------------------------------------------

def test_status_machine():
    rules.check_transition("RMA1", "requested", "authorised")
    rules.check_transition("RMA1", "requested", "rejected")
    rules.check_transition("RMA1", "authorised", "received")
    rules.check_transition("RMA1", "received", "inspected")
    rules.check_transition("RMA1", "inspected", "closed")
    with pytest.raises(Conflict) as exc:
        rules.check_transition("RMA00000007", "authorised", "rejected")
    assert exc.value.detail == "return RMA00000007 is authorised; it cannot be rejected (from authorised: received)"
    assert exc.value.extra == {"current_status": "authorised"}
    for final in ("closed", "rejected"):
        with pytest.raises(Conflict, match="it is final"):
            rules.check_transition("RMA1", final, "authorised")
    with pytest.raises(Conflict):
        rules.check_transition("RMA1", "requested", "received")  # goods are received against an RMA only


# --- receipt and inspection ---------------------------------------------------------------------

def receipt_errors(authorised, received) -> dict[str, str]:
    with pytest.raises(ValidationFailed) as exc:
        rules.check_receipt("RMA1", authorised, received)
    return {e.field: e.message for e in exc.value.errors}


def test_receipt_checks():
    rules.check_receipt("RMA1", {1: D(2), 2: D(1)}, [(1, D(2))])  # line 2 did not come
    assert receipt_errors({1: D(2)}, [(1, D(3))]) == {"lines[0].quantity": "3 of line 1 received is more than the 2 authorised"}
    assert receipt_errors({1: D(2)}, [(4, D(1))]) == {"lines[0].line_no": "return RMA1 has no line 4 (its lines: 1)"}
    assert receipt_errors({1: D(2)}, [(1, D(1)), (1, D(1))]) == {"lines[1].line_no": "line 1 is named twice; count it once"}
    assert receipt_errors({1: D(2)}, [(1, D(0))]) == {"lines": "nothing was received: give the quantity of at least one line"}


def inspection_errors(received, verdicts) -> dict[str, str]:
    with pytest.raises(ValidationFailed) as exc:
        rules.check_inspection("RMA1", received, verdicts)
    return {e.field: e.message for e in exc.value.errors}


def test_one_condition_covers_everything_received_of_a_line():
    parts = rules.check_inspection("RMA1", {1: D(2), 2: D(0)}, [Verdict(1, "refused", None)])
    assert parts == {1: [("refused", D(2))]}


def test_a_line_split_over_conditions_adds_up():
    parts = rules.check_inspection("RMA1", {1: D(2)}, [Verdict(1, "restock", D(1)), Verdict(1, "damaged", D(1))])
    assert parts == {1: [("restock", D(1)), ("damaged", D(1))]}
    assert inspection_errors({1: D(2)}, [Verdict(1, "restock", D(1)), Verdict(1, "damaged", D(2))]) == {
        "lines[1].quantity": "the conditions of line 1 cover 3; 2 were received"}
    assert inspection_errors({1: D(2)}, [Verdict(1, "restock", None), Verdict(1, "damaged", D(1))]) == {
        "lines[1].quantity": "line 1 is split over several conditions: give the quantity of each"}


def test_every_received_line_needs_a_verdict():
    assert inspection_errors({1: D(2), 2: D(1), 3: D(0)}, [Verdict(1, "restock", None)]) == {
        "lines": "line 2 was received (1) and needs a condition: restock, damaged or refused"}
    assert inspection_errors({1: D(2), 3: D(0)}, [Verdict(1, "restock", None), Verdict(3, "restock", None)]) == {
        "lines[1].line_no": "nothing of line 3 was received"}
    assert inspection_errors({1: D(2)}, [Verdict(1, "lost", None)]) == {
        "lines[0].condition": "lines[0].condition must be one of restock, damaged, refused"}


# --- refunds ------------------------------------------------------------------------------------

def line(quantity, net, tax, before="0", now=None, line_id=1):
    return RefundLine(line_id, "SKU", D(quantity), D(net), D(tax), D(before), D(now if now is not None else quantity))


def test_a_partial_return_is_prorated_and_rounded_half_up():
    # 5 widgets for 50.00 + 3.63 tax (7.25%); 2 come back: 20.00 + 1.452 -> 1.45
    r = rules.refund([line(5, "50.00", "3.63", now=2)], "USD")
    [(_, net, tax)] = r.lines
    assert (net, tax, r.total) == (D("20.00"), D("1.45"), D("21.45"))


def test_returning_the_rest_later_gives_back_exactly_the_line():
    first = rules.refund([line(5, "50.00", "3.63", now=2)], "USD")
    rest = rules.refund([line(5, "50.00", "3.63", before=2, now=3)], "USD")
    assert rest.net == D("30.00") and rest.tax == D("2.18")
    assert first.total + rest.total == D("53.63")


def test_a_full_return_is_the_line_exactly_where_a_unit_price_would_drift():
    # 700 at 1000.00: the 4-decimal unit price 1.4286 x 700 would refund 1000.02
    assert rules.unit_amount(D("1000.00"), D(700)) == D("1.4286")
    r = rules.refund([line(700, "1000.00", "62.50")], "USD")
    assert (r.net, r.tax) == (D("1000.00"), D("62.50"))


def test_zero_decimal_currency():
    r = rules.refund([line(3, "1000", "100", now=1)], "JPY")
    assert (r.net, r.tax) == (D("333"), D("33"))


def test_the_total_is_the_sum_of_its_lines_and_refused_units_are_not_in_it():
    r = rules.refund([line(5, "50.00", "3.13", now=1, line_id=1), line(2, "45.00", "2.81", now=0, line_id=2),
                      line(12, "4.00", "0.25", now=12, line_id=3)], "USD")
    assert [(li.order_line_id, n, t) for li, n, t in r.lines] == [(1, D("10.00"), D("0.63")), (3, D("4.00"), D("0.25"))]
    assert r.total == D("14.88")


def test_more_than_the_line_is_a_bug_not_a_refund():
    with pytest.raises(ValueError):
        rules.refund([line(5, "50.00", "3.13", before=4, now=2)], "USD")


@given(
    quantity=st.integers(1, 10_000),
    net_cents=st.integers(0, 10**9),
    tax_cents=st.integers(0, 10**8),
    cuts=st.lists(st.integers(1, 10_000), max_size=6),
)
def test_any_split_of_a_line_refunds_exactly_its_net_and_tax(quantity, net_cents, tax_cents, cuts):
    net, tax = D(net_cents) / 100, D(tax_cents) / 100
    parts, left = [], quantity
    for c in cuts:
        if left <= 0:
            break
        parts.append(min(c, left))
        left -= parts[-1]
    if left:
        parts.append(left)
    before, nets, taxes = 0, D(0), D(0)
    for q in parts:
        r = rules.refund([RefundLine(1, "S", D(quantity), net, tax, D(before), D(q))], "USD")
        nets, taxes = nets + r.net, taxes + r.tax
        before += q
    assert (nets, taxes) == (net, tax)
