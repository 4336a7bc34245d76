"""The card gateway interface: authorise at order, capture at shipment, void on cancel, refund on return.

A gateway adapter (o2c.payments.stripe is the first) turns these calls into one provider's protocol.
The service layer depends only on this module, so a provider can be swapped or faked in tests.

Later charges. An order shipped in parts is paid by several authorisations of the same card, the later
ones made while the customer is not at the checkout. Gateways allow that only for a card kept for a
customer of theirs, with the customer's consent given at the first payment: the first authorisation
asks `save_for_later=True` (the gateway keeps the card for its customer, made if no `customer_ref` is
given, and the Authorisation names it), and a later one passes `off_session=True` with that
`customer_ref`. An issuer that wants the customer to confirm a later charge answers it with a Declined
(code `authentication_required`): nobody is there to confirm.

Three outcomes besides success, each an exception with one meaning:

- `Declined`: final. The card or the issuer said no. Retrying the same request returns the same "no";
  a new attempt (another card) needs a new idempotency key.
- `GatewayUnavailable`: the outcome is unknown (timeout, connection error, 5xx, rate limit). The
  gateway may or may not have acted. Retrying with the SAME idempotency key is safe: the gateway
  answers with the result of the first request instead of acting twice.
- `InvalidRequest`: the request cannot succeed as sent; it names the field. Nothing happened.

Card data is never accepted: callers pass a gateway token (the card was tokenised in the
customer's browser by the gateway's own script), and anything that looks like a card number is refused
before any network call, without echoing it.

Everything here is pure (no I/O) apart from the `CardGateway` protocol that adapters implement.
"""
from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Protocol, runtime_checkable

from stdnum import luhn

from o2c.core.errors import FieldError, ValidationFailed
from o2c.core.money import UnknownCurrency, minor_units, plain, round_money

# Neutral statuses, the same whatever the provider calls them.
AUTHORISED = "authorised"            # funds held, not yet taken
ACTION_REQUIRED = "action_required"  # the issuer wants the customer to authenticate (3-D Secure): not authorised
CAPTURED = "captured"                # funds taken (after a partial capture the rest is released)
VOIDED = "voided"                    # authorisation cancelled, hold released
FAILED = "failed"                    # the last attempt failed (after a decline)
PROCESSING = "processing"            # the gateway has not finished; look again later
REFUNDED = "refunded"                # a refund went through
REFUND_PENDING = "pending"           # a refund is accepted but not final yet
REFUND_FAILED = "failed"             # a refund failed or was cancelled

IDEMPOTENCY_KEY_MAX = 255  # Stripe's limit, and a sane one for any gateway


# --- errors --------------------------------------------------------------------------------------

class GatewayError(Exception):
    """Base of every gateway outcome other than success. `request_id` is the gateway's id for support."""

    request_id: str | None = None


class Declined(GatewayError):
    """The card or its issuer refused. Final: do not retry with the same key (the same "no" comes back).

    `code` is the gateway's error code (e.g. card_declined, expired_card, incorrect_cvc,
    authentication_required), `decline_code` the issuer's reason when given (e.g. insufficient_funds),
    `gateway_ref` the failed attempt's reference when the gateway created one, `customer_ref` the
    gateway's customer it was made for (created for it, perhaps: the next attempt can use it again).
    """

    def __init__(self, code: str, decline_code: str | None, message: str, *,
                 gateway_ref: str | None = None, request_id: str | None = None, customer_ref: str | None = None):
        super().__init__(message)
        self.code = code
        self.decline_code = decline_code
        self.message = message
        self.gateway_ref = gateway_ref
        self.request_id = request_id
        self.customer_ref = customer_ref  # the gateway's customer the attempt was made for, if any

    def __repr__(self) -> str:
        return f"Declined(code={self.code!r}, decline_code={self.decline_code!r})"


class GatewayUnavailable(GatewayError):
    """No answer we can trust: the outcome is unknown. Retry with the same idempotency key."""

    def __init__(self, message: str, *, request_id: str | None = None):
        super().__init__(message)
        self.message = message
        self.request_id = request_id


class InvalidRequest(ValidationFailed, GatewayError):
    """The request cannot succeed as sent; `field` names the argument at fault. Nothing happened.

    A ValidationFailed, so the API turns it into a 422 problem naming the field like any other.
    """

    def __init__(self, field: str, message: str, *, code: str = "invalid", request_id: str | None = None):
        super().__init__(message, [FieldError(field, code, message)])
        self.field = field
        self.code = code
        self.message = message
        self.request_id = request_id

    def __repr__(self) -> str:
        return f"InvalidRequest(field={self.field!r}, code={self.code!r}, message={self.message!r})"


class Checks:
    """Runs input checks and keeps every refusal, so one InvalidRequest names all the fields at fault."""

    def __init__(self) -> None:
        self.problems: list[InvalidRequest] = []

    def run(self, check, *args, **kwargs):
        try:
            return check(*args, **kwargs)
        except InvalidRequest as exc:
            self.problems.append(exc)
            return None

    def raise_if_any(self) -> None:
        if not self.problems:
            return
        first = self.problems[0]
        if len(self.problems) == 1:
            raise first
        combined = InvalidRequest(first.field, "; ".join(p.message for p in self.problems), code=first.code)
        combined.errors = [e for p in self.problems for e in p.errors]
        raise combined


# --- results -------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Authorisation:
    gateway_ref: str
    status: str          # AUTHORISED, or ACTION_REQUIRED (not authorised yet: do not ship as paid)
    amount: Decimal
    currency: str
    customer_ref: str | None = None  # the gateway's customer the card is kept for (save_for_later, off_session)
    # The card as the gateway kept it, when that differs from the token sent (a test token such as
    # Stripe's pm_card_visa becomes a payment method of its own): later charges must name this one.
    payment_method_ref: str | None = None


@dataclass(frozen=True)
class Capture:
    gateway_ref: str
    status: str          # CAPTURED
    amount: Decimal      # what was taken; any rest of the authorisation is released
    currency: str


@dataclass(frozen=True)
class Void:
    gateway_ref: str
    status: str          # VOIDED


@dataclass(frozen=True)
class Refund:
    refund_ref: str
    gateway_ref: str
    status: str          # REFUNDED, REFUND_PENDING or REFUND_FAILED
    amount: Decimal
    currency: str


@dataclass(frozen=True)
class PaymentState:
    """What the gateway holds for one payment now: to settle an outcome left unknown by a timeout."""

    gateway_ref: str
    status: str
    amount: Decimal       # authorised
    capturable: Decimal   # still held and capturable
    captured: Decimal
    currency: str


@runtime_checkable
class CardGateway(Protocol):
    """What the payment service needs from a card gateway. Amounts are Decimal in the currency's units."""

    def authorise(self, amount: Decimal, currency: str, payment_method_token: str, *,
                  idempotency_key: str, description: str | None = None,
                  metadata: Mapping[str, str] | None = None, save_for_later: bool = False,
                  customer_ref: str | None = None, customer_metadata: Mapping[str, str] | None = None,
                  off_session: bool = False) -> Authorisation:
        """`save_for_later`: keep the card for later charges, for the gateway customer `customer_ref`
        (made when None, with `customer_metadata`). `off_session`: a later charge of a card kept for
        `customer_ref`, without the customer. A retry sends the same arguments under the same key."""
        ...

    def capture(self, gateway_ref: str, amount: Decimal, currency: str, *,
                idempotency_key: str) -> Capture: ...

    def void(self, gateway_ref: str, *, idempotency_key: str) -> Void: ...

    def refund(self, gateway_ref: str, amount: Decimal, currency: str, *,
               idempotency_key: str) -> Refund: ...

    def retrieve(self, gateway_ref: str) -> PaymentState: ...


# --- card data ------------------------------------------------------------------------------------

_SEPARATORS = re.compile(r"[ \-]")
# A run of digits, optionally grouped by single spaces or hyphens, as people type card numbers.
_DIGIT_RUN = re.compile(r"\d(?:[ \-]?\d)*")


def looks_like_card_number(value: str) -> bool:
    """12 to 19 digits (spaces and hyphens ignored) passing the Luhn check: a primary account number.

    Card numbers are 12-19 digits with a Luhn check digit (ISO/IEC 7812-1).
    """
    digits = _SEPARATORS.sub("", value.strip())
    return digits.isdigit() and 12 <= len(digits) <= 19 and luhn.is_valid(digits)


def _run_has_card_number(run: str) -> bool:
    """Whether some consecutive groups of a digit run form a card number ("SO 100 4242 4242 4242 4242")."""
    groups = _SEPARATORS.split(run)
    for start in range(len(groups)):
        digits = ""
        for group in groups[start:]:
            digits += group
            if len(digits) > 19:
                break
            if len(digits) >= 12 and luhn.is_valid(digits):
                return True
    return False


def contains_card_number(text: str) -> bool:
    """True when free text carries something that looks like a card number anywhere in it."""
    return any(_run_has_card_number(run) for run in _DIGIT_RUN.findall(text))


def scrub_card_numbers(text: str) -> str:
    """`text` with every digit run that holds a card number replaced, for logs and messages."""
    return _DIGIT_RUN.sub(lambda m: "[card number removed]" if _run_has_card_number(m.group()) else m.group(), text)


_CARD_FIELD_NAMES = frozenset({
    "cvv", "cvv2", "cvc", "cvc2", "cvn", "cid", "csc", "security_code", "pan", "card_number", "cardnumber",
})


def check_free_text(field: str, text: str) -> None:
    """Refuse a description or metadata value that carries a card number. The text is not echoed."""
    if contains_card_number(text):
        raise InvalidRequest(
            field, f"{field} contains what looks like a card number; card data is never sent or stored",
            code="card_data_refused",
        )


def check_metadata(metadata: Mapping[str, str] | None, field: str = "metadata") -> dict[str, str]:
    """Metadata as str -> str, with no card data in keys or values (nor keys that announce it: cvv...)."""
    if metadata is None:
        return {}
    if not isinstance(metadata, Mapping):
        raise InvalidRequest(field, f"{field} must be a mapping of text to text", code="invalid")
    checked: dict[str, str] = {}
    for key, value in metadata.items():
        if not isinstance(key, str) or not isinstance(value, str):
            raise InvalidRequest(field, f"{field} keys and values must be text", code="invalid")
        if contains_card_number(key):  # the field name would echo it: name the mapping only
            raise InvalidRequest(field, f"a {field} key looks like a card number; card data is never "
                                 "sent or stored", code="card_data_refused")
        if key.strip().lower().replace("-", "_") in _CARD_FIELD_NAMES:
            raise InvalidRequest(f"{field}.{key}", f"{field} key {key!r} names card data; card data is never "
                                 "sent or stored", code="card_data_refused")
        check_free_text(f"{field}.{key}", value)
        checked[key] = value
    return checked


def check_token(token: object, field: str = "payment_method_token", *, pattern: re.Pattern[str]) -> str:
    """A gateway token matching `pattern`. Never echoes the value: it might be a card number or a CVV."""
    if not isinstance(token, str) or not token.strip():
        raise InvalidRequest(field, f"{field} is required", code="required")
    if looks_like_card_number(token) or contains_card_number(token):
        raise InvalidRequest(
            field, f"{field} looks like a card number; send the gateway's token, never card data",
            code="card_data_refused",
        )
    if not pattern.fullmatch(token):
        raise InvalidRequest(field, f"{field} is not a payment method token", code="invalid_token")
    return token


# --- money ----------------------------------------------------------------------------------------

def check_currency(currency: object, field: str = "currency") -> str:
    """An ISO 4217 code, upper case."""
    code = currency.strip().upper() if isinstance(currency, str) else ""
    try:
        minor_units(code)
    except UnknownCurrency:
        raise InvalidRequest(field, f"{field} {currency!r} is not an ISO 4217 currency",
                             code="unknown_currency") from None
    return code


def check_amount(amount: object, currency: str, field: str = "amount") -> Decimal:
    """A positive Decimal already in the currency's minor units (never a float, never rounded here)."""
    if not isinstance(amount, Decimal):
        raise InvalidRequest(field, f"{field} must be a Decimal, not {type(amount).__name__}",
                             code="not_decimal")
    if not amount.is_finite() or amount <= 0:
        raise InvalidRequest(field, f"{field} must be more than zero", code="not_positive")
    if round_money(amount, currency) != amount:
        raise InvalidRequest(
            field, f"{field} {plain(amount)} has more decimals than {currency} allows ({minor_units(currency)})",
            code="too_many_decimals",
        )
    return amount


def to_minor_units(amount: Decimal, currency: str, exponent: int, field: str = "amount") -> int:
    """`amount` as an integer count of the gateway's smallest unit (10^-exponent of the currency).

    Exact or refused: an amount the gateway's unit cannot express (1.005 in a 2-decimal unit) is an
    InvalidRequest, never rounded, so what is charged is what the books say.
    """
    scaled = amount.scaleb(exponent)
    if scaled != scaled.to_integral_value():
        raise InvalidRequest(
            field, f"{field} {plain(amount)} {currency} cannot be charged: the gateway takes {exponent} decimals",
            code="too_many_decimals",
        )
    return int(scaled)


def from_minor_units(units: int, currency: str, exponent: int) -> Decimal:
    """The gateway's integer amount back as a Decimal in the currency's own minor units, exactly."""
    amount = Decimal(units).scaleb(-exponent)
    rounded = round_money(amount, currency)
    if rounded != amount:
        # The gateway holds finer amounts than our books can (a fractional ISK charge made elsewhere).
        raise GatewayUnavailable(f"the gateway reported {units} minor units of {currency}, "
                                 f"which is not a whole {currency} minor unit")
    return rounded


# --- keys and secrets -----------------------------------------------------------------------------

def check_idempotency_key(key: object) -> str:
    if not isinstance(key, str) or not key.strip():
        raise InvalidRequest("idempotency_key", "idempotency_key is required", code="required")
    if len(key) > IDEMPOTENCY_KEY_MAX:
        raise InvalidRequest("idempotency_key", f"idempotency_key is longer than {IDEMPOTENCY_KEY_MAX} characters",
                             code="too_long")
    return key


def derived_key(key: str, step: str) -> str:
    """The key of a step an operation takes on its way (the customer made before an authorisation): the
    same for every retry of the operation, and within the gateway's limit."""
    derived = f"{key}-{step}"
    if len(derived) <= IDEMPOTENCY_KEY_MAX:
        return derived
    return f"{hashlib.sha256(key.encode()).hexdigest()}-{step}"[:IDEMPOTENCY_KEY_MAX]


def mask_secret(secret: str) -> str:
    """A secret as it may appear in a log: its last 4 characters at most."""
    return f"…{secret[-4:]}" if len(secret) >= 12 else "…"
