"""The gateway-neutral pieces: recognising card numbers, and amounts in a gateway's integer units."""
from __future__ import annotations

from decimal import Decimal as D

import pytest
from hypothesis import given
from hypothesis import strategies as st
from stdnum import luhn

from o2c.core.money import minor_units
from o2c.payments.gateway import (
    GatewayUnavailable, InvalidRequest, contains_card_number, from_minor_units, looks_like_card_number,
    mask_secret, scrub_card_numbers, to_minor_units,
)
from o2c.payments.stripe import stripe_exponent


@pytest.mark.parametrize("text, card", [
    ("4242424242424242", True),
    ("4242 4242 4242 4242", True),
    ("4242-4242-4242-4242", True),
    ("378282246310005", True),        # 15-digit Amex test number
    ("4242424242424241", False),      # Luhn check fails
    ("42424242424", False),           # 11 digits: too short for a card
    ("12345678901234567897", False),  # 20 digits: too long
    ("pm_card_visa", False),
    ("", False),
])
def test_looks_like_card_number(text, card):
    assert looks_like_card_number(text) is card


def test_card_numbers_are_found_inside_free_text():
    assert contains_card_number("customer says: pay with 4242 4242 4242 4242 please")
    assert contains_card_number("SO 100 4242424242424242")  # next to another number
    assert not contains_card_number("PO 2024-001, 3 cartons, call 0049 30 1234")


def test_card_numbers_are_scrubbed_from_text_and_other_numbers_kept():
    assert scrub_card_numbers("card 4242-4242-4242-4242 on PO 2024-001") == \
        "card [card number removed] on PO 2024-001"


@given(st.integers(min_value=10**11, max_value=10**18 - 1))
def test_every_luhn_valid_number_of_card_length_is_recognised(body):
    number = str(body) + luhn.calc_check_digit(str(body))  # 12 to 19 digits
    assert looks_like_card_number(number)
    assert looks_like_card_number(" ".join(number[i:i + 4] for i in range(0, len(number), 4)))


@given(st.sampled_from(["USD", "EUR", "JPY", "KRW", "BHD", "KWD", "ISK"]), st.integers(min_value=1, max_value=10**8))
def test_to_and_from_the_gateway_units_is_exact(currency, count):
    amount = D(count).scaleb(-minor_units(currency))  # any amount in the currency's own minor units
    exponent = stripe_exponent(currency)
    units = to_minor_units(amount, currency, exponent)
    assert from_minor_units(units, currency, exponent) == amount
    assert D(units).scaleb(-exponent) == amount


def test_an_amount_finer_than_the_gateway_unit_is_refused_not_rounded():
    with pytest.raises(InvalidRequest) as refused:
        to_minor_units(D("1.005"), "USD", 2)
    assert refused.value.field == "amount"


def test_a_gateway_amount_finer_than_our_books_is_not_rounded_away():
    assert from_minor_units(150000, "ISK", 2) == D("1500")
    with pytest.raises(GatewayUnavailable):
        from_minor_units(150050, "ISK", 2)  # half a krona: no such amount in our books


def test_a_secret_shows_its_last_four_characters_at_most():
    assert mask_secret("sk_test_abcdefghijkl1234") == "…1234"
    assert mask_secret("short") == "…"
