"""A CardGateway that speaks Stripe's HTTP API (PaymentIntents with manual capture, and Refunds).

The protocol, as Stripe documents it publicly (docs.stripe.com/api):

- authorise: `POST /v1/payment_intents` with amount, currency, payment_method (a `pm_...` token),
  `payment_method_types[]=card`, `capture_method=manual`, `confirm=true`. The answer's status is
  `requires_capture` when the funds are held (`requires_action` when the issuer wants 3-D Secure).
- capture: `POST /v1/payment_intents/{id}/capture` with `amount_to_capture`. One capture per
  PaymentIntent: after a partial capture the rest of the hold is released and the status is
  `succeeded` (capturing several times needs Stripe's multicapture, which this adapter does not use).
- void: `POST /v1/payment_intents/{id}/cancel` (status `canceled`).
- refund: `POST /v1/refunds` with payment_intent and amount; partial refunds until all is refunded.
- retrieve: `GET /v1/payment_intents/{id}`.
- keeping the card for later charges (docs.stripe.com/payments/save-during-payment): a Customer
  (`POST /v1/customers`, only our customer id in its metadata) and, on the first PaymentIntent,
  `customer` with `setup_future_usage=off_session`, which attaches the payment method to the Customer
  once the intent is authorised. A later PaymentIntent sends `customer` and `off_session=true` with
  `confirm=true`: the customer is not there, so an issuer that wants 3-D Secure makes it fail with a
  `card_error` coded `authentication_required` (a decline for us) instead of waiting for someone. Stripe
  refuses an off-session intent whose payment method is not attached to that Customer.

Bodies are form-encoded; `Authorization: Bearer sk_...`; every POST carries an `Idempotency-Key`, and
Stripe answers a repeat of the same key and parameters with the saved first answer (declines and even
500s included), a repeat with other parameters with 400 `idempotency_error`. Errors are
`{"error": {"type", "code", "decline_code", "message", "param"}}`: `card_error` (HTTP 402) is a decline,
`invalid_request_error` (400/404) a request that cannot succeed, 401/403 a bad key, 409 a concurrent
use of the key, 429 rate limiting, 5xx Stripe's own trouble.

Amounts travel as integers in Stripe's smallest unit of the currency (docs.stripe.com/currencies):
zero-decimal currencies (JPY...) as is, three-decimal ones (BHD, JOD, KWD, OMR, TND) in thousandths
whose last digit must be 0, ISK in hundredths though it has no minor unit in ISO 4217, everything else
in hundredths. An amount the unit cannot express exactly is refused, never rounded.

No card data and no API key ever reaches a log line or an exception message: only `pm_...` tokens are
accepted, anything shaped like a card number is refused before the network, the key is shown by its
last 4 characters at most, and text that comes back from Stripe is scrubbed the same way.
"""
from __future__ import annotations

import contextlib
import ipaddress
import logging
import re
from collections.abc import Mapping
from decimal import Decimal
from urllib.parse import urlsplit

import httpx

from o2c.payments.gateway import (
    ACTION_REQUIRED, AUTHORISED, CAPTURED, FAILED, PROCESSING, REFUND_FAILED, REFUND_PENDING, REFUNDED,
    VOIDED, Authorisation, Capture, Checks, Declined, GatewayError, GatewayUnavailable, InvalidRequest,
    PaymentState, Refund, Void, check_amount, check_currency, check_free_text, check_idempotency_key,
    check_metadata, check_token, derived_key, from_minor_units, mask_secret, scrub_card_numbers, to_minor_units,
)

log = logging.getLogger(__name__)

DEFAULT_BASE_URL = "https://api.stripe.com"

# docs.stripe.com/currencies: charged in whole units, no multiplication.
ZERO_DECIMAL = frozenset(
    "BIF CLP DJF GNF JPY KMF KRW MGA PYG RWF UGX VND VUV XAF XOF XPF".split()
)
# docs.stripe.com/currencies: in thousandths, and the last digit must be 0 (steps of ten).
THREE_DECIMAL = frozenset("BHD JOD KWD OMR TND".split())

# Stripe's metadata limits (docs.stripe.com/api/metadata).
METADATA_MAX_KEYS, METADATA_KEY_MAX, METADATA_VALUE_MAX = 50, 40, 500

PAYMENT_METHOD_TOKEN = re.compile(r"pm_[A-Za-z0-9_]{1,250}")
PAYMENT_INTENT_ID = re.compile(r"pi_[A-Za-z0-9_]{1,250}")
CUSTOMER_ID = re.compile(r"cus_[A-Za-z0-9_]{1,250}")
# The error code (and decline code) of an off-session payment the issuer wants the customer to confirm.
AUTHENTICATION_REQUIRED = "authentication_required"
API_KEY = re.compile(r"(sk|rk)_[A-Za-z0-9_]{8,250}")

# Stripe's PaymentIntent statuses in our words.
INTENT_STATUS = {
    "requires_capture": AUTHORISED,
    "requires_action": ACTION_REQUIRED,
    "requires_confirmation": ACTION_REQUIRED,
    "succeeded": CAPTURED,
    "canceled": VOIDED,
    "requires_payment_method": FAILED,
    "processing": PROCESSING,
}
REFUND_STATUS = {
    "succeeded": REFUNDED,
    "pending": REFUND_PENDING,
    "requires_action": REFUND_PENDING,
    "failed": REFUND_FAILED,
    "canceled": REFUND_FAILED,
}
# Stripe's parameter names in the words of our interface, for InvalidRequest.field.
PARAM_FIELD = {
    "amount": "amount",
    "amount_to_capture": "amount",
    "currency": "currency",
    "payment_method": "payment_method_token",
    "intent": "gateway_ref",
    "payment_intent": "gateway_ref",
    "description": "description",
    "customer": "customer_ref",
    "setup_future_usage": "save_for_later",
    "off_session": "off_session",
}


def stripe_exponent(currency: str) -> int:
    """How many decimals Stripe's integer amounts carry for `currency`."""
    if currency in ZERO_DECIMAL:
        return 0
    if currency in THREE_DECIMAL:
        return 3
    return 2


class StripeGateway:
    """Stripe's PaymentIntents API behind the CardGateway interface. One instance per API key."""

    def __init__(self, api_key: str, base_url: str = DEFAULT_BASE_URL, timeout: float = 30.0, *,
                 api_version: str | None = None):
        """`timeout` in seconds for each request; `api_version` pins a Stripe-Version header
        (None: the account's default version; this adapter reads only fields stable across versions)."""
        if not isinstance(api_key, str) or not API_KEY.fullmatch(api_key):
            # Not echoed: a wrong value pasted here may still be some other secret.
            raise InvalidRequest("api_key", "api_key must be a Stripe secret or restricted key (sk_... or rk_...)",
                                 code="invalid_key")
        _check_base_url(base_url)
        self._api_key = api_key
        self._api_version = api_version
        self.base_url = base_url.rstrip("/")
        self.timeout = timeout
        self._http = httpx.Client(base_url=self.base_url, timeout=httpx.Timeout(timeout))

    def __repr__(self) -> str:
        return f"StripeGateway(base_url={self.base_url!r}, api_key={mask_secret(self._api_key)!r})"

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> StripeGateway:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # --- the interface ---------------------------------------------------------------------------

    def authorise(self, amount: Decimal, currency: str, payment_method_token: str, *,
                  idempotency_key: str, description: str | None = None,
                  metadata: Mapping[str, str] | None = None, save_for_later: bool = False,
                  customer_ref: str | None = None, customer_metadata: Mapping[str, str] | None = None,
                  off_session: bool = False) -> Authorisation:
        """Hold `amount` on the card behind the token, to capture at shipment.

        `save_for_later`: the card is kept for the Stripe Customer `customer_ref`; when None, one is made
        first (with `customer_metadata`) under a key derived from `idempotency_key`, so a retry finds
        the same Customer instead of making another. `off_session`: a later charge of the card kept for
        `customer_ref`, without the customer; the Authorisation names the Customer either way."""
        checks = Checks()
        code = checks.run(check_currency, currency)
        units = checks.run(self._units, amount, code) if code else None
        token = checks.run(check_token, payment_method_token, pattern=PAYMENT_METHOD_TOKEN)
        if description is not None:
            checks.run(check_free_text, "description", description)
        meta = checks.run(_check_metadata, metadata)
        customer_meta = checks.run(_check_metadata, customer_metadata, "customer_metadata")
        if customer_ref is not None or off_session:
            checks.run(_check_customer, customer_ref)
        checks.run(_check_later_charge, save_for_later, off_session)
        key = checks.run(check_idempotency_key, idempotency_key)
        checks.raise_if_any()

        customer = customer_ref
        if save_for_later and customer is None:
            customer = self._new_customer(customer_meta, derived_key(key, "customer"))
        form = {
            "amount": str(units),
            "currency": code.lower(),
            "payment_method": token,
            "payment_method_types[]": "card",
            "capture_method": "manual",
            "confirm": "true",
        }
        if customer is not None:
            form["customer"] = customer
        if save_for_later:
            form["setup_future_usage"] = "off_session"
        if off_session:
            form["off_session"] = "true"
        if description:
            form["description"] = description
        form.update({f"metadata[{k}]": v for k, v in meta.items()})
        try:
            intent = self._send("POST", "/v1/payment_intents", form, key)
        except Declined as exc:
            exc.customer_ref = customer  # made for this attempt, perhaps: the next one can use it again
            raise
        return Authorisation(
            gateway_ref=_text(intent, "id"),
            status=_intent_status(intent),
            amount=self._amount(intent, "amount"),
            currency=_currency(intent),
            customer_ref=customer,
            payment_method_ref=_kept_method(intent),
        )

    def capture(self, gateway_ref: str, amount: Decimal, currency: str, *, idempotency_key: str) -> Capture:
        """Take `amount` (at most what is authorised; less for a partial shipment, the rest is released)."""
        checks = Checks()
        ref = checks.run(_check_ref, gateway_ref)
        code = checks.run(check_currency, currency)
        units = checks.run(self._units, amount, code) if code else None
        key = checks.run(check_idempotency_key, idempotency_key)
        checks.raise_if_any()

        intent = self._send("POST", f"/v1/payment_intents/{ref}/capture", {"amount_to_capture": str(units)}, key)
        _same_currency(intent, code, "capture")
        return Capture(
            gateway_ref=_text(intent, "id"),
            status=_intent_status(intent),
            amount=self._amount(intent, "amount_received"),
            currency=code,
        )

    def void(self, gateway_ref: str, *, idempotency_key: str) -> Void:
        """Cancel the authorisation; the hold on the card is released."""
        checks = Checks()
        ref = checks.run(_check_ref, gateway_ref)
        key = checks.run(check_idempotency_key, idempotency_key)
        checks.raise_if_any()

        intent = self._send("POST", f"/v1/payment_intents/{ref}/cancel", {}, key)
        return Void(gateway_ref=_text(intent, "id"), status=_intent_status(intent))

    def refund(self, gateway_ref: str, amount: Decimal, currency: str, *, idempotency_key: str) -> Refund:
        """Give back `amount` of what was captured; several partial refunds up to the captured total."""
        checks = Checks()
        ref = checks.run(_check_ref, gateway_ref)
        code = checks.run(check_currency, currency)
        units = checks.run(self._units, amount, code) if code else None
        key = checks.run(check_idempotency_key, idempotency_key)
        checks.raise_if_any()

        refund = self._send("POST", "/v1/refunds", {"payment_intent": ref, "amount": str(units)}, key)
        _same_currency(refund, code, "refund")
        status = _text(refund, "status")
        return Refund(
            refund_ref=_text(refund, "id"),
            gateway_ref=_text(refund, "payment_intent"),
            status=REFUND_STATUS.get(status, REFUND_PENDING),
            amount=self._amount(refund, "amount"),
            currency=code,
        )

    def retrieve(self, gateway_ref: str) -> PaymentState:
        """The payment as Stripe holds it now (to settle an outcome a timeout left unknown)."""
        ref = _check_ref(gateway_ref)
        intent = self._send("GET", f"/v1/payment_intents/{ref}", None, None)
        return PaymentState(
            gateway_ref=_text(intent, "id"),
            status=_intent_status(intent),
            amount=self._amount(intent, "amount"),
            capturable=self._amount(intent, "amount_capturable"),
            captured=self._amount(intent, "amount_received"),
            currency=_currency(intent),
        )

    def _new_customer(self, metadata: dict[str, str], idempotency_key: str) -> str:
        """A Stripe Customer to keep a card for. Nothing personal is sent: the payment method carries the
        card holder's details, and the metadata names our customer."""
        form = {f"metadata[{k}]": v for k, v in metadata.items()}
        ref = _text(self._send("POST", "/v1/customers", form, idempotency_key), "id")
        if not CUSTOMER_ID.fullmatch(ref):
            raise GatewayUnavailable("Stripe's answer to a new Customer has no Customer id (cus_...)")
        return ref

    # --- money -----------------------------------------------------------------------------------

    def _units(self, amount: Decimal, currency: str) -> int:
        amount = check_amount(amount, currency)
        units = to_minor_units(amount, currency, stripe_exponent(currency))
        if currency in THREE_DECIMAL and units % 10:
            raise InvalidRequest(
                "amount", f"amount {amount} {currency} cannot be charged through Stripe: it takes {currency} "
                "in steps of 0.010 (the last of the three decimals must be 0)", code="not_gateway_step",
            )
        return units

    def _amount(self, obj: dict, name: str) -> Decimal:
        value = obj.get(name)
        if not isinstance(value, int) or isinstance(value, bool):
            raise GatewayUnavailable(f"Stripe's answer has no integer {name}; check the payment by retrieving it")
        code = _currency(obj)
        return from_minor_units(value, code, stripe_exponent(code))

    # --- HTTP ------------------------------------------------------------------------------------

    def _send(self, method: str, path: str, form: dict[str, str] | None, idempotency_key: str | None) -> dict:
        """One request; the answer's JSON object, or the exception that says what happened."""
        headers = {"Authorization": f"Bearer {self._api_key}"}
        if idempotency_key is not None:
            headers["Idempotency-Key"] = idempotency_key
        if self._api_version:
            headers["Stripe-Version"] = self._api_version
        failure = None
        try:
            response = self._http.request(method, path, data=form, headers=headers)
        except httpx.TimeoutException:
            failure = f"Stripe did not answer {method} {path} within {self.timeout:g}s"
        except httpx.TransportError as exc:
            failure = f"could not reach Stripe for {method} {path} ({type(exc).__name__})"
        if failure is not None:
            # Raised outside the except block, so no httpx exception (which holds the request and its
            # Authorization header) stays chained to ours.
            log.warning("stripe %s %s: %s (idempotency key %s); outcome unknown",
                        method, path, failure, idempotency_key)
            raise GatewayUnavailable(
                f"{failure}; the outcome is unknown: retry with the same idempotency key")
        return self._read(response, method, path, idempotency_key)

    def _read(self, response: httpx.Response, method: str, path: str, idempotency_key: str | None) -> dict:
        status = response.status_code
        request_id = response.headers.get("request-id")
        log.info("stripe %s %s -> %s (request %s, idempotency key %s)",
                 method, path, status, request_id, idempotency_key)
        try:
            body = response.json()
        except ValueError:
            body = None
        if 200 <= status < 300:
            if isinstance(body, dict):
                return body
            raise GatewayUnavailable(
                f"Stripe answered {method} {path} with {status} but no JSON object; retrieve the payment "
                "to see what happened", request_id=request_id)
        error = body.get("error") if isinstance(body, dict) else None
        error = error if isinstance(error, dict) else {}
        message = self._scrub(str(error.get("message") or f"Stripe answered {status}"))
        kind, code, param = error.get("type"), error.get("code"), error.get("param")

        if kind == "card_error" or AUTHENTICATION_REQUIRED in (code, error.get("decline_code")):
            # authentication_required: an off-session charge the issuer wants the customer to confirm.
            # Nobody is there to do it, so it is a decline like any other (the same key answers the same).
            intent = error.get("payment_intent")
            raise Declined(
                str(code or "card_declined"), error.get("decline_code"), message,
                gateway_ref=intent.get("id") if isinstance(intent, dict) else None, request_id=request_id,
            )
        if status >= 500 or status in (409, 424, 429) or not error:
            log.warning("stripe %s %s -> %s: %s", method, path, status, message)
            raise GatewayUnavailable(
                f"Stripe answered {status} to {method} {path} ({message}); the outcome is unknown: "
                "retry with the same idempotency key", request_id=request_id)
        if kind == "idempotency_error":
            raise InvalidRequest(
                "idempotency_key", "idempotency_key was already used for a different request; a new "
                "operation needs a new key", code="idempotency_key_reused", request_id=request_id)
        if status in (401, 403):
            # Stripe's own message quotes the key (masked); ours names only its last 4 characters.
            raise InvalidRequest(
                "api_key", f"Stripe refused the API key ending {mask_secret(self._api_key)} ({status})",
                code="authentication_failed", request_id=request_id)
        field = _field_for(param, default="gateway_ref" if status == 404 else "request")
        raise InvalidRequest(field, message, code=str(code or kind or "invalid_request"), request_id=request_id)

    def _scrub(self, text: str) -> str:
        """Text from outside, made safe to log: no API key, nothing shaped like a card number."""
        return scrub_card_numbers(text.replace(self._api_key, mask_secret(self._api_key)))


# --- helpers ---------------------------------------------------------------------------------------

def _check_base_url(base_url: str) -> None:
    """HTTPS, or plain HTTP to this machine only (a local test server): the key must not travel in clear."""
    parts = urlsplit(base_url)
    if parts.scheme == "https" and parts.hostname:
        return
    if parts.scheme == "http" and parts.hostname:
        host = parts.hostname
        with contextlib.suppress(ValueError):  # a host name, not an address: not loopback
            if host == "localhost" or ipaddress.ip_address(host).is_loopback:
                return
    raise InvalidRequest("base_url", "base_url must be https:// (plain http only to 127.0.0.1 for tests)",
                         code="insecure_url")


def _check_ref(gateway_ref: object) -> str:
    if not isinstance(gateway_ref, str) or not PAYMENT_INTENT_ID.fullmatch(gateway_ref):
        raise InvalidRequest("gateway_ref", "gateway_ref is not a Stripe PaymentIntent id (pi_...)",
                             code="invalid_ref")
    return gateway_ref


def _check_customer(customer_ref: object) -> str:
    if customer_ref is None:
        raise InvalidRequest("customer_ref", "an off-session charge needs the Stripe Customer the card is kept "
                             "for (customer_ref)", code="required")
    if not isinstance(customer_ref, str) or not CUSTOMER_ID.fullmatch(customer_ref):
        raise InvalidRequest("customer_ref", "customer_ref is not a Stripe Customer id (cus_...)",
                             code="invalid_ref")
    return customer_ref


def _check_later_charge(save_for_later: bool, off_session: bool) -> None:
    if save_for_later and off_session:
        raise InvalidRequest("off_session", "an off-session charge uses a card kept already; it cannot also "
                             "ask to keep it (save_for_later)", code="conflicting")


def _check_metadata(metadata: Mapping[str, str] | None, field: str = "metadata") -> dict[str, str]:
    meta = check_metadata(metadata, field)
    if len(meta) > METADATA_MAX_KEYS:
        raise InvalidRequest(field, f"{field} has {len(meta)} keys; Stripe takes {METADATA_MAX_KEYS}",
                             code="too_many_keys")
    for key, value in meta.items():
        if not key or len(key) > METADATA_KEY_MAX or "[" in key or "]" in key:
            raise InvalidRequest(f"{field}.{key}", f"{field} keys must be 1-{METADATA_KEY_MAX} characters "
                                 "without square brackets", code="invalid_key")
        if len(value) > METADATA_VALUE_MAX:
            raise InvalidRequest(f"{field}.{key}", f"{field}.{key} is longer than {METADATA_VALUE_MAX} "
                                 "characters", code="too_long")
    return meta


def _field_for(param: object, default: str) -> str:
    if not isinstance(param, str) or not param:
        return default
    if param.startswith("metadata[") and param.endswith("]"):
        return f"metadata.{param[len('metadata['):-1]}"
    return PARAM_FIELD.get(param, param)


def _kept_method(intent: dict) -> str | None:
    """The payment method the intent used (a string id, or an expanded object), if it is a pm_ id."""
    method = intent.get("payment_method")
    if isinstance(method, dict):
        method = method.get("id")
    return method if isinstance(method, str) and PAYMENT_METHOD_TOKEN.fullmatch(method) else None


def _text(obj: dict, name: str) -> str:
    value = obj.get(name)
    if not isinstance(value, str) or not value:
        raise GatewayUnavailable(f"Stripe's answer has no {name}; check the payment by retrieving it")
    return value


def _currency(obj: dict) -> str:
    return check_currency(_text(obj, "currency"))


def _intent_status(intent: dict) -> str:
    status = _text(intent, "status")
    if status not in INTENT_STATUS:
        raise GatewayUnavailable(f"Stripe reports a PaymentIntent status {status!r} this adapter does not know")
    return INTENT_STATUS[status]


def _same_currency(obj: dict, expected: str, what: str) -> None:
    actual = _currency(obj)
    if actual != expected:
        # The money moved, in units of the wrong currency: a person must look at it.
        raise GatewayError(f"the {what} was made in {actual} but asked for in {expected}; reconcile it by hand")
