"""The Stripe adapter against a local server speaking Stripe's protocol (tests/payments/fake_stripe.py).

The story of a card order: authorise at order, capture at shipment (in full, or part of it for a
partial shipment), refund on return (in parts, never more than was taken), void on cancel; the card
kept at order for a Stripe Customer and charged again off session for a later shipment. Then what
goes wrong: declines, a gateway that times out or fails (the retry with the same key charges once),
card data sent by mistake (refused before anything leaves), and the API key kept out of every message.
"""
from __future__ import annotations

import logging
import traceback
from decimal import Decimal as D

import httpx
import pytest

from o2c.payments.gateway import (
    ACTION_REQUIRED, AUTHORISED, CAPTURED, REFUNDED, VOIDED, CardGateway, Declined, GatewayUnavailable,
    InvalidRequest,
)
from o2c.payments.stripe import StripeGateway

from .fake_stripe import API_KEY, FakeStripe

CARD = "4242424242424242"  # Stripe's public test Visa number: Luhn-valid, the shape of a real one


@pytest.fixture
def stripe():
    with FakeStripe() as fake:
        yield fake


@pytest.fixture
def gateway(stripe):
    with StripeGateway(API_KEY, base_url=stripe.base_url, timeout=10) as gw:
        yield gw


def posts(stripe: FakeStripe, suffix: str = "") -> list:
    return [r for r in stripe.requests if r.method == "POST" and r.path.endswith(suffix)]


# --- the happy path ------------------------------------------------------------------------------

def test_the_adapter_is_a_card_gateway(gateway):
    assert isinstance(gateway, CardGateway)


def test_authorise_capture_in_full_then_refund_in_two_parts_and_never_more(stripe, gateway):
    auth = gateway.authorise(D("120.50"), "USD", "pm_card_visa", idempotency_key="order-1:authorise",
                             description="Order SO-1", metadata={"order": "SO-1"})
    assert (auth.status, auth.amount, auth.currency) == (AUTHORISED, D("120.50"), "USD")
    sent = posts(stripe)[0]
    assert sent.form == {
        "amount": "12050", "currency": "usd", "payment_method": "pm_card_visa", "payment_method_types[]": "card",
        "capture_method": "manual", "confirm": "true", "description": "Order SO-1", "metadata[order]": "SO-1",
    }
    assert sent.headers["idempotency-key"] == "order-1:authorise"
    assert sent.headers["authorization"] == f"Bearer {API_KEY}"
    assert sent.headers["content-type"] == "application/x-www-form-urlencoded"

    capture = gateway.capture(auth.gateway_ref, D("120.50"), "USD", idempotency_key="shipment-1:capture")
    assert (capture.status, capture.amount) == (CAPTURED, D("120.50"))

    first = gateway.refund(auth.gateway_ref, D("20.50"), "USD", idempotency_key="return-1:refund")
    assert (first.status, first.amount, first.gateway_ref) == (REFUNDED, D("20.50"), auth.gateway_ref)
    with pytest.raises(InvalidRequest) as over:
        gateway.refund(auth.gateway_ref, D("100.01"), "USD", idempotency_key="return-2:refund")
    assert over.value.field == "amount"
    rest = gateway.refund(auth.gateway_ref, D("100.00"), "USD", idempotency_key="return-3:refund")
    assert rest.amount == D("100.00")
    with pytest.raises(InvalidRequest) as nothing_left:
        gateway.refund(auth.gateway_ref, D("0.01"), "USD", idempotency_key="return-4:refund")
    assert nothing_left.value.code == "charge_already_refunded"
    assert sum(r["amount"] for r in stripe.refunds) == 12050  # refunded exactly what was taken


def test_a_partial_shipment_captures_part_and_the_rest_of_the_hold_is_released(stripe, gateway):
    auth = gateway.authorise(D("100.00"), "EUR", "pm_card_mastercard", idempotency_key="o2:auth")
    capture = gateway.capture(auth.gateway_ref, D("60.00"), "EUR", idempotency_key="s2:capture")
    assert (capture.status, capture.amount, capture.currency) == (CAPTURED, D("60.00"), "EUR")
    assert posts(stripe, "/capture")[0].form == {"amount_to_capture": "6000"}

    state = gateway.retrieve(auth.gateway_ref)
    assert (state.amount, state.captured, state.capturable) == (D("100.00"), D("60.00"), D("0.00"))
    # One capture per PaymentIntent: the second shipment cannot take the released 40.
    with pytest.raises(InvalidRequest) as again:
        gateway.capture(auth.gateway_ref, D("40.00"), "EUR", idempotency_key="s3:capture")
    assert again.value.code == "payment_intent_unexpected_state"
    # Refunds are bounded by what was captured, not by what was authorised.
    with pytest.raises(InvalidRequest):
        gateway.refund(auth.gateway_ref, D("60.01"), "EUR", idempotency_key="r2:refund")
    assert gateway.refund(auth.gateway_ref, D("60.00"), "EUR", idempotency_key="r3:refund").amount == D("60.00")


def test_capturing_more_than_authorised_is_refused_and_the_hold_stays(gateway):
    auth = gateway.authorise(D("50.00"), "USD", "pm_card_visa", idempotency_key="o3:auth")
    with pytest.raises(InvalidRequest) as over:
        gateway.capture(auth.gateway_ref, D("50.01"), "USD", idempotency_key="s4:capture")
    assert (over.value.field, over.value.code) == ("amount", "amount_too_large")
    assert gateway.retrieve(auth.gateway_ref).capturable == D("50.00")
    assert gateway.capture(auth.gateway_ref, D("50.00"), "USD", idempotency_key="s5:capture").amount == D("50.00")


def test_void_releases_the_authorisation_and_nothing_can_be_captured_after(gateway):
    auth = gateway.authorise(D("75.00"), "USD", "pm_card_visa", idempotency_key="o4:auth")
    void = gateway.void(auth.gateway_ref, idempotency_key="o4:void")
    assert (void.gateway_ref, void.status) == (auth.gateway_ref, VOIDED)
    assert gateway.retrieve(auth.gateway_ref).capturable == D("0.00")
    with pytest.raises(InvalidRequest) as late:
        gateway.capture(auth.gateway_ref, D("75.00"), "USD", idempotency_key="o4:capture")
    assert late.value.code == "payment_intent_unexpected_state"


def test_a_captured_payment_cannot_be_voided(gateway):
    auth = gateway.authorise(D("10.00"), "USD", "pm_card_visa", idempotency_key="o5:auth")
    gateway.capture(auth.gateway_ref, D("10.00"), "USD", idempotency_key="o5:capture")
    with pytest.raises(InvalidRequest) as late:
        gateway.void(auth.gateway_ref, idempotency_key="o5:void")
    assert late.value.code == "payment_intent_unexpected_state"


def test_a_card_that_needs_3d_secure_is_not_reported_as_authorised(gateway):
    auth = gateway.authorise(D("10.00"), "USD", "pm_card_threeDSecure2Required", idempotency_key="o6:auth")
    assert auth.status == ACTION_REQUIRED


# --- money in the gateway's units -----------------------------------------------------------------

@pytest.mark.parametrize("amount, currency, units", [
    (D("12.34"), "USD", "1234"),
    (D("0.01"), "USD", "1"),
    (D("999999.99"), "USD", "99999999"),
    (D("1500"), "JPY", "1500"),      # zero-decimal: no multiplication
    (D("7"), "KRW", "7"),
    (D("1.230"), "BHD", "1230"),     # three decimals, last one 0
    (D("1500"), "ISK", "150000"),    # Stripe keeps ISK in hundredths
])
def test_amounts_travel_in_the_currency_smallest_unit_and_come_back_exact(stripe, gateway, amount, currency, units):
    auth = gateway.authorise(amount, currency, "pm_card_visa", idempotency_key=f"{currency}-{amount}")
    assert posts(stripe)[-1].form["amount"] == units
    assert posts(stripe)[-1].form["currency"] == currency.lower()
    assert (auth.amount, auth.currency) == (amount, currency)
    assert str(auth.amount) == str(amount)  # same scale: 1500 JPY, not 1500.00


@pytest.mark.parametrize("amount, currency, field, code", [
    (D("1500.5"), "JPY", "amount", "too_many_decimals"),
    (D("12.345"), "USD", "amount", "too_many_decimals"),
    (D("1.235"), "BHD", "amount", "not_gateway_step"),   # Stripe wants the last of 3 decimals to be 0
    (D("0"), "USD", "amount", "not_positive"),
    (D("-5.00"), "USD", "amount", "not_positive"),
    (12.34, "USD", "amount", "not_decimal"),             # a float never reaches the gateway
    (D("10.00"), "XYZ", "currency", "unknown_currency"),
])
def test_amounts_the_gateway_cannot_take_exactly_are_refused_before_any_request(stripe, gateway, amount,
                                                                                currency, field, code):
    with pytest.raises(InvalidRequest) as refused:
        gateway.authorise(amount, currency, "pm_card_visa", idempotency_key="k")
    assert (refused.value.field, refused.value.code) == (field, code)
    assert stripe.requests == []


# --- declines --------------------------------------------------------------------------------------

@pytest.mark.parametrize("token, code, decline_code", [
    ("pm_card_chargeDeclined", "card_declined", "generic_decline"),
    ("pm_card_chargeDeclinedInsufficientFunds", "card_declined", "insufficient_funds"),
    ("pm_card_chargeDeclinedExpiredCard", "expired_card", "expired_card"),
    ("pm_card_chargeDeclinedIncorrectCvc", "incorrect_cvc", "incorrect_cvc"),
])
def test_a_decline_is_final_and_says_why(stripe, gateway, token, code, decline_code):
    with pytest.raises(Declined) as declined:
        gateway.authorise(D("30.00"), "USD", token, idempotency_key="o7:auth")
    assert (declined.value.code, declined.value.decline_code) == (code, decline_code)
    assert declined.value.message
    assert declined.value.gateway_ref in stripe.intents
    assert stripe.intents[declined.value.gateway_ref].amount_capturable == 0  # nothing held

    # The same request again (same key) is the same "no", not a new attempt at the card.
    with pytest.raises(Declined):
        gateway.authorise(D("30.00"), "USD", token, idempotency_key="o7:auth")
    assert len(stripe.intents) == 1


def test_after_a_decline_another_card_needs_a_new_key(gateway):
    with pytest.raises(Declined):
        gateway.authorise(D("30.00"), "USD", "pm_card_chargeDeclined", idempotency_key="o8:auth:1")
    with pytest.raises(InvalidRequest) as reused:
        gateway.authorise(D("30.00"), "USD", "pm_card_visa", idempotency_key="o8:auth:1")
    assert (reused.value.field, reused.value.code) == ("idempotency_key", "idempotency_key_reused")
    assert gateway.authorise(D("30.00"), "USD", "pm_card_visa", idempotency_key="o8:auth:2").status == AUTHORISED


# --- a card kept for later charges -----------------------------------------------------------------

def test_the_first_authorisation_keeps_the_card_for_a_new_customer_and_a_later_one_charges_it_off_session(
        stripe, gateway):
    first = gateway.authorise(D("100.00"), "USD", "pm_card_visa", idempotency_key="o30:auth", save_for_later=True,
                              customer_metadata={"o2c_customer": "7"})
    made, held = posts(stripe)
    assert (made.path, made.form, made.headers["idempotency-key"]) == (
        "/v1/customers", {"metadata[o2c_customer]": "7"}, "o30:auth-customer")  # our customer's id, nothing personal
    assert (first.status, first.customer_ref) == (AUTHORISED, stripe.customers[first.customer_ref].id)
    assert held.form == {
        "amount": "10000", "currency": "usd", "payment_method": "pm_card_visa", "payment_method_types[]": "card",
        "capture_method": "manual", "confirm": "true", "customer": first.customer_ref,
        "setup_future_usage": "off_session",
    }
    # the test token became a payment method of its own, kept for the customer: that is what later charges name
    assert first.payment_method_ref != "pm_card_visa"
    assert stripe.customers[first.customer_ref].payment_methods == [first.payment_method_ref]
    gateway.capture(first.gateway_ref, D("60.00"), "USD", idempotency_key="o30:capture")  # the rest is released
    with pytest.raises(InvalidRequest):  # the token itself was never kept
        gateway.authorise(D("40.00"), "USD", "pm_card_visa", idempotency_key="o30:token", off_session=True,
                          customer_ref=first.customer_ref)

    later = gateway.authorise(D("40.00"), "USD", first.payment_method_ref, idempotency_key="o30:reauth",
                              off_session=True, customer_ref=first.customer_ref)
    assert (later.status, later.amount, later.customer_ref) == (AUTHORISED, D("40.00"), first.customer_ref)
    sent = posts(stripe)[-1]
    assert (sent.path, sent.form["customer"], sent.form["off_session"], sent.form["confirm"]) == (
        "/v1/payment_intents", first.customer_ref, "true", "true")
    assert "setup_future_usage" not in sent.form and len(stripe.customers) == 1
    assert gateway.capture(later.gateway_ref, D("40.00"), "USD", idempotency_key="o30:capture:2").amount == D("40.00")


def test_a_card_is_kept_for_a_customer_given_and_a_declined_one_names_the_customer_made_for_it(stripe, gateway):
    with pytest.raises(Declined) as declined:
        gateway.authorise(D("30.00"), "USD", "pm_card_chargeDeclined", idempotency_key="o31:auth:1",
                          save_for_later=True)
    made_for = declined.value.customer_ref
    assert made_for in stripe.customers and stripe.customers[made_for].payment_methods == []  # not kept
    auth = gateway.authorise(D("30.00"), "USD", "pm_card_mastercard", idempotency_key="o31:auth:2",
                             save_for_later=True, customer_ref=made_for)
    assert auth.customer_ref == made_for and len(posts(stripe, "/v1/customers")) == 1  # none made for the 2nd
    assert stripe.customers[made_for].payment_methods == [auth.payment_method_ref]


def test_stripe_refuses_an_off_session_charge_of_a_card_not_kept_for_that_customer(stripe, gateway):
    first = gateway.authorise(D("10.00"), "USD", "pm_card_visa", idempotency_key="o32:auth", save_for_later=True)
    for token, customer, field in [("pm_card_mastercard", first.customer_ref, "payment_method_token"),
                                   ("pm_card_visa", "cus_nobody", "customer_ref")]:
        with pytest.raises(InvalidRequest) as refused:
            gateway.authorise(D("10.00"), "USD", token, idempotency_key=f"o32:{token}:{customer}", off_session=True,
                              customer_ref=customer)
        assert refused.value.field == field
    unsaved = gateway.authorise(D("10.00"), "USD", "pm_card_mastercard", idempotency_key="o32:once")
    with pytest.raises(InvalidRequest):  # used once without a customer: not kept for anyone
        gateway.authorise(D("10.00"), "USD", "pm_card_mastercard", idempotency_key="o32:again", off_session=True,
                          customer_ref=first.customer_ref)
    assert unsaved.customer_ref is None and len(stripe.intents) == 2


def test_an_issuer_wanting_the_absent_customer_to_authenticate_is_a_decline(stripe, gateway):
    first = gateway.authorise(D("10.00"), "USD", "pm_card_visa", idempotency_key="o33:auth", save_for_later=True)
    stripe.require_authentication_next()
    for _ in range(2):  # the same key again: the same "no"
        with pytest.raises(Declined) as declined:
            gateway.authorise(D("10.00"), "USD", first.payment_method_ref, idempotency_key="o33:reauth",
                              off_session=True, customer_ref=first.customer_ref)
        assert (declined.value.code, declined.value.decline_code, declined.value.customer_ref) == (
            "authentication_required", "authentication_required", first.customer_ref)
    assert stripe.intents[declined.value.gateway_ref].status == "requires_payment_method"
    assert stripe.intents[declined.value.gateway_ref].amount_capturable == 0  # nothing held


def test_authentication_required_is_a_decline_whatever_type_stripe_gives_it():
    answer = {"error": {"type": "invalid_request_error", "code": "authentication_required",
                        "message": "This payment requires authentication."}}
    with StripeGateway(API_KEY, base_url="http://127.0.0.1:9") as gw:
        gw._http.close()  # answered by a stand-in transport: the fake only ever says it as a card_error
        gw._http = httpx.Client(base_url=gw.base_url, transport=httpx.MockTransport(
            lambda request: httpx.Response(402, json=answer)))
        with pytest.raises(Declined) as declined:
            gw.authorise(D("10.00"), "USD", "pm_card_visa", idempotency_key="k", off_session=True,
                         customer_ref="cus_1")
    assert declined.value.code == "authentication_required"


@pytest.mark.parametrize("fault_at", ["/v1/customers", "/v1/payment_intents"])
def test_a_retry_after_a_timeout_makes_one_customer_and_one_authorisation(stripe, fault_at):
    stripe.fail_next("timeout", processed=True, path_suffix=fault_at)
    with StripeGateway(API_KEY, base_url=stripe.base_url, timeout=0.5) as impatient:
        with pytest.raises(GatewayUnavailable):
            impatient.authorise(D("42.00"), "USD", "pm_card_visa", idempotency_key="o34:auth", save_for_later=True)
    with StripeGateway(API_KEY, base_url=stripe.base_url, timeout=10) as later:
        auth = later.authorise(D("42.00"), "USD", "pm_card_visa", idempotency_key="o34:auth", save_for_later=True)
    [customer] = stripe.customers
    [intent] = stripe.intents.values()
    assert auth.customer_ref == intent.customer == customer


def test_a_long_key_derives_a_customer_key_within_the_limit(stripe, gateway):
    gateway.authorise(D("1.00"), "USD", "pm_card_visa", idempotency_key="k" * 255, save_for_later=True)
    [made] = posts(stripe, "/v1/customers")
    assert len(made.headers["idempotency-key"]) <= 255 and made.headers["idempotency-key"] != "k" * 255


@pytest.mark.parametrize("kwargs, field, code", [
    ({"off_session": True}, "customer_ref", "required"),
    ({"off_session": True, "customer_ref": "cus_1/../../v1/refunds"}, "customer_ref", "invalid_ref"),
    ({"save_for_later": True, "customer_ref": "pi_123"}, "customer_ref", "invalid_ref"),
    ({"save_for_later": True, "off_session": True, "customer_ref": "cus_1"}, "off_session", "conflicting"),
    ({"save_for_later": True, "customer_metadata": {"cvc": "123"}}, "customer_metadata.cvc", "card_data_refused"),
    ({"save_for_later": True, "customer_metadata": {"note": CARD}}, "customer_metadata.note", "card_data_refused"),
])
def test_later_charge_arguments_that_cannot_work_are_refused_before_any_request(stripe, gateway, kwargs, field,
                                                                                 code):
    with pytest.raises(InvalidRequest) as refused:
        gateway.authorise(D("10.00"), "USD", "pm_card_visa", idempotency_key="o35:auth", **kwargs)
    assert (refused.value.field, refused.value.code) == (field, code)
    assert stripe.requests == [] and "4242" not in str(refused.value.problem())


# --- timeouts and gateway failures: the retry is safe -----------------------------------------------

def test_a_timeout_leaves_the_outcome_unknown_and_the_retry_with_the_same_key_charges_once(stripe):
    stripe.fail_next("timeout", processed=True)  # Stripe does the work; its answer never arrives
    with StripeGateway(API_KEY, base_url=stripe.base_url, timeout=0.5) as impatient:
        with pytest.raises(GatewayUnavailable) as unknown:
            impatient.authorise(D("42.00"), "USD", "pm_card_visa", idempotency_key="o9:auth")
    assert "same idempotency key" in str(unknown.value)
    assert len(stripe.intents) == 1  # the card is authorised although we were not told

    with StripeGateway(API_KEY, base_url=stripe.base_url, timeout=10) as later:
        auth = later.authorise(D("42.00"), "USD", "pm_card_visa", idempotency_key="o9:auth")
    assert auth.gateway_ref in stripe.intents and auth.status == AUTHORISED
    assert len(stripe.intents) == 1  # no second authorisation
    assert [r.headers["idempotency-key"] for r in posts(stripe)] == ["o9:auth", "o9:auth"]


def test_a_request_lost_before_stripe_acted_is_done_once_by_the_retry(stripe):
    stripe.fail_next("timeout", processed=False)
    with StripeGateway(API_KEY, base_url=stripe.base_url, timeout=0.5) as impatient:
        with pytest.raises(GatewayUnavailable):
            impatient.authorise(D("42.00"), "USD", "pm_card_visa", idempotency_key="o10:auth")
    assert stripe.intents == {}
    with StripeGateway(API_KEY, base_url=stripe.base_url, timeout=10) as later:
        later.authorise(D("42.00"), "USD", "pm_card_visa", idempotency_key="o10:auth")
    assert len(stripe.intents) == 1


def test_a_capture_that_timed_out_is_not_taken_twice(stripe, gateway):
    auth = gateway.authorise(D("80.00"), "USD", "pm_card_visa", idempotency_key="o11:auth")
    stripe.fail_next("timeout", processed=True, path_suffix="/capture")
    with StripeGateway(API_KEY, base_url=stripe.base_url, timeout=0.5) as impatient:
        with pytest.raises(GatewayUnavailable):
            impatient.capture(auth.gateway_ref, D("80.00"), "USD", idempotency_key="s11:capture")
    capture = gateway.capture(auth.gateway_ref, D("80.00"), "USD", idempotency_key="s11:capture")
    assert (capture.status, capture.amount) == (CAPTURED, D("80.00"))
    assert stripe.intents[auth.gateway_ref].amount_received == 8000


def test_a_500_then_success_on_the_retry(stripe, gateway):
    stripe.fail_next("error", processed=False)
    with pytest.raises(GatewayUnavailable) as failed:
        gateway.authorise(D("15.00"), "USD", "pm_card_visa", idempotency_key="o12:auth")
    assert "500" in str(failed.value)
    auth = gateway.authorise(D("15.00"), "USD", "pm_card_visa", idempotency_key="o12:auth")
    assert auth.status == AUTHORISED
    assert len(stripe.intents) == 1


def test_a_500_saved_by_stripe_repeats_on_retry_and_retrieve_settles_what_happened(stripe, gateway):
    auth = gateway.authorise(D("25.00"), "USD", "pm_card_visa", idempotency_key="o13:auth")
    stripe.fail_next("error", processed=True, path_suffix="/capture")
    for _ in range(2):  # Stripe saved the 500 under the key: the retry gets it again
        with pytest.raises(GatewayUnavailable):
            gateway.capture(auth.gateway_ref, D("25.00"), "USD", idempotency_key="s13:capture")
    state = gateway.retrieve(auth.gateway_ref)
    assert (state.status, state.captured) == (CAPTURED, D("25.00"))


@pytest.mark.parametrize("status", [429, 503])
def test_rate_limits_and_unavailability_are_outcome_unknown(stripe, gateway, status):
    stripe.fail_next("error", processed=False, status=status)
    with pytest.raises(GatewayUnavailable):
        gateway.authorise(D("15.00"), "USD", "pm_card_visa", idempotency_key="o14:auth")


def test_a_gateway_that_cannot_be_reached_is_outcome_unknown():
    with FakeStripe() as gone:
        url = gone.base_url  # a port that nobody listens on once the server stopped
    with StripeGateway(API_KEY, base_url=url, timeout=2) as gw:
        with pytest.raises(GatewayUnavailable):
            gw.authorise(D("15.00"), "USD", "pm_card_visa", idempotency_key="o15:auth")


# --- card data never leaves, the key never shows --------------------------------------------------

@pytest.mark.parametrize("token", [CARD, "4242 4242 4242 4242", "4242-4242-4242-4242", "pm_4242424242424242",
                                   "378282246310005"])
def test_a_card_number_is_refused_before_any_request_and_not_echoed(stripe, gateway, token):
    with pytest.raises(InvalidRequest) as refused:
        gateway.authorise(D("10.00"), "USD", token, idempotency_key="o16:auth")
    assert (refused.value.field, refused.value.code) == ("payment_method_token", "card_data_refused")
    assert stripe.requests == []
    shown = str(refused.value) + repr(refused.value) + str(refused.value.problem())
    assert "4242" not in shown and "8282" not in shown


@pytest.mark.parametrize("token", ["123", "4242424242424241", "tok_visa", "card_1234", ""])
def test_anything_but_a_payment_method_token_is_refused_without_echo(stripe, gateway, token):
    with pytest.raises(InvalidRequest) as refused:
        gateway.authorise(D("10.00"), "USD", token, idempotency_key="o17:auth")
    assert refused.value.field == "payment_method_token"
    assert stripe.requests == []
    if token:
        assert token not in str(refused.value)


@pytest.mark.parametrize("description, metadata, field", [
    (f"paid with {CARD}", None, "description"),
    (None, {"note": "card 4242 4242 4242 4242 exp 12/30"}, "metadata.note"),
    (None, {"cvv": "123"}, "metadata.cvv"),
    (None, {CARD: "x"}, "metadata"),
])
def test_card_data_in_description_or_metadata_is_refused_before_any_request(stripe, gateway, description,
                                                                             metadata, field):
    with pytest.raises(InvalidRequest) as refused:
        gateway.authorise(D("10.00"), "USD", "pm_card_visa", idempotency_key="o18:auth",
                          description=description, metadata=metadata)
    assert refused.value.field == field
    assert stripe.requests == []
    assert "4242" not in str(refused.value.problem())


def test_every_field_at_fault_is_named_in_one_answer(stripe, gateway):
    with pytest.raises(InvalidRequest) as refused:
        gateway.authorise(D("1.005"), "USD", CARD, idempotency_key="")
    assert [e.field for e in refused.value.errors] == ["amount", "payment_method_token", "idempotency_key"]
    assert stripe.requests == []


def test_no_request_that_reached_the_gateway_carried_card_data(stripe, gateway):
    auth = gateway.authorise(D("10.00"), "USD", "pm_card_visa", idempotency_key="o19:auth",
                             description="Order SO-19", metadata={"order": "SO-19", "po": "PO-2024-001"})
    gateway.capture(auth.gateway_ref, D("10.00"), "USD", idempotency_key="o19:capture")
    for bad in (CARD, "4242 4242"):
        with pytest.raises(InvalidRequest):
            gateway.authorise(D("10.00"), "USD", bad, idempotency_key="o19:auth:2")
    assert len(stripe.requests) == 2
    assert all("4242" not in r.body for r in stripe.requests)


def test_the_api_key_never_appears_in_logs_exceptions_or_repr(stripe, caplog):
    caplog.set_level(logging.DEBUG)  # every logger, httpx and httpcore included
    seen: list[str] = []

    def keep(exc: BaseException) -> None:
        seen.append(str(exc))
        seen.append(repr(exc))
        seen.append("".join(traceback.format_exception(exc)))

    with StripeGateway(API_KEY, base_url=stripe.base_url, timeout=0.5) as gw:
        seen.append(repr(gw))
        auth = gw.authorise(D("10.00"), "USD", "pm_card_visa", idempotency_key="o20:auth")
        gw.capture(auth.gateway_ref, D("10.00"), "USD", idempotency_key="o20:capture")
        for fault, call in [
            (None, lambda: gw.authorise(D("10.00"), "USD", "pm_card_chargeDeclined", idempotency_key="o20:d")),
            ("timeout", lambda: gw.authorise(D("10.00"), "USD", "pm_card_visa", idempotency_key="o20:t")),
            ("error", lambda: gw.authorise(D("10.00"), "USD", "pm_card_visa", idempotency_key="o20:e")),
            (None, lambda: gw.authorise(D("10.00"), "USD", CARD, idempotency_key="o20:c")),
        ]:
            if fault:
                stripe.fail_next(fault)
            with pytest.raises(Exception) as caught:
                call()
            keep(caught.value)
    with StripeGateway(API_KEY[:-4] + "0000", base_url=stripe.base_url) as wrong_key:
        with pytest.raises(InvalidRequest) as refused:
            wrong_key.authorise(D("10.00"), "USD", "pm_card_visa", idempotency_key="o20:k")
    assert refused.value.field == "api_key"
    assert "…0000" in str(refused.value)  # the last 4 characters, to tell keys apart
    keep(refused.value)

    assert caplog.records  # the adapter did log its requests
    text = caplog.text + "\n".join(seen)
    assert API_KEY not in text
    assert API_KEY[:-4] not in text  # not even the key less its last 4
    assert CARD not in text


def test_a_publishable_key_or_an_unencrypted_remote_url_is_refused():
    with pytest.raises(InvalidRequest) as publishable:
        StripeGateway("pk_test_51Hq7ZpLkR2mXw9VtYb3Nc")
    assert publishable.value.field == "api_key" and "51Hq7" not in str(publishable.value)
    with pytest.raises(InvalidRequest) as clear:
        StripeGateway(API_KEY, base_url="http://api.stripe.com")
    assert clear.value.field == "base_url"
    with pytest.raises(InvalidRequest):
        StripeGateway(API_KEY, base_url="http://10.0.0.5:8080")


def test_a_gateway_ref_that_is_not_a_payment_intent_is_refused_before_any_request(stripe, gateway):
    for ref in ("", "ch_123", "pi_1/../../v1/refunds", "pi_1?x=1"):
        with pytest.raises(InvalidRequest) as refused:
            gateway.capture(ref, D("1.00"), "USD", idempotency_key="k")
        assert refused.value.field == "gateway_ref"
    assert stripe.requests == []


def test_an_unknown_payment_intent_names_the_gateway_ref(gateway):
    with pytest.raises(InvalidRequest) as missing:
        gateway.capture("pi_doesnotexist", D("1.00"), "USD", idempotency_key="k")
    assert (missing.value.field, missing.value.code) == ("gateway_ref", "resource_missing")


def test_a_pinned_api_version_is_sent_with_each_request(stripe):
    with StripeGateway(API_KEY, base_url=stripe.base_url, api_version="2024-06-20") as gw:
        auth = gw.authorise(D("10.00"), "USD", "pm_card_visa", idempotency_key="o21:auth")
        gw.retrieve(auth.gateway_ref)
    assert [r.headers.get("stripe-version") for r in stripe.requests] == ["2024-06-20", "2024-06-20"]
