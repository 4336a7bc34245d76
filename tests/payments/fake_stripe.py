"""A local stand-in for Stripe's API, for the adapter's tests: PaymentIntents with manual capture, Refunds,
and Customers to keep a card for later charges.

It answers on 127.0.0.1 (a free port) with Stripe's JSON shapes and follows the rules the adapter
relies on, as Stripe documents them:

- Authentication: `Authorization: Bearer <secret key>`, else 401.
- Form-encoded bodies; an unknown parameter is refused (400 parameter_unknown), so a misspelt field in
  the adapter shows up here.
- Test payment methods: `pm_card_visa` / `pm_card_mastercard` authorise; `pm_card_chargeDeclined`,
  `pm_card_chargeDeclinedInsufficientFunds`, `pm_card_chargeDeclinedExpiredCard`,
  `pm_card_chargeDeclinedIncorrectCvc` decline (HTTP 402 card_error with code and decline_code);
  `pm_card_threeDSecure2Required` stops at requires_action. Any other `pm_` id is unknown (400).
- One capture per PaymentIntent, at most what is capturable; the rest is released. Cancel only before
  capture. Refunds after capture, partial ones until the captured amount is used up.
- Idempotency: a POST with a key seen before and the same endpoint and parameters gets the saved
  answer again (declines included) with `Idempotent-Replayed: true`; with other parameters, 400
  idempotency_error. As with Stripe, an answer is saved once the endpoint began to work, not when the
  parameters were refused at the door.
- Faults on demand (`fail_next`): the next request times out (the server holds the answer longer than
  the client waits, having done the work or not), or answers 500 (before the work: not saved, a retry
  goes through; or after it: saved, so a retry with the key gets the same 500, as Stripe does).
- Declines on demand (`decline_next`): the next PaymentIntent declines whatever its payment method, as
  a card that worked at order and is refused a week later (funds gone, card cancelled).
- Cards kept for later (docs.stripe.com/payments/save-during-payment): `POST /v1/customers` makes a
  Customer; a PaymentIntent with `customer` and `setup_future_usage` attaches its payment method to
  that Customer once it is authorised (not when declined or waiting for 3-D Secure). An intent with
  `off_session=true` is refused (400) unless its payment method is attached to its `customer`. The test
  tokens stand for a fresh card each time they are sent, so one may be attached to several Customers.
- Authentication on demand (`require_authentication_next`): the next off-session PaymentIntent fails as
  Stripe fails one whose issuer wants the customer to confirm (402 card_error, code and decline_code
  `authentication_required`, the intent left at requires_payment_method).
- Every request received is kept (`requests`), to check what reached "Stripe" and with which key.

Only what the adapter uses is implemented; the fake is not a Stripe simulator.
"""
from __future__ import annotations

import itertools
import json
import re
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qsl

API_KEY = "sk_test_fake51Hq7ZpLkR2mXw9VtYb3Nc"

# test payment method -> (code, decline_code, message) of its decline; None: it authorises.
TEST_PAYMENT_METHODS: dict[str, tuple[str, str, str] | None] = {
    "pm_card_visa": None,
    "pm_card_mastercard": None,
    "pm_card_chargeDeclined": ("card_declined", "generic_decline", "Your card was declined."),
    "pm_card_chargeDeclinedInsufficientFunds": ("card_declined", "insufficient_funds",
                                                "Your card has insufficient funds."),
    "pm_card_chargeDeclinedExpiredCard": ("expired_card", "expired_card", "Your card has expired."),
    "pm_card_chargeDeclinedIncorrectCvc": ("incorrect_cvc", "incorrect_cvc",
                                           "Your card's security code is incorrect."),
}
NEEDS_AUTHENTICATION = frozenset({"pm_card_threeDSecure2Required"})
MAX_AMOUNT = 99_999_999  # Stripe's amount limit for most currencies (8 digits)

CREATE_PARAMS = frozenset({"amount", "currency", "payment_method", "payment_method_types[]", "capture_method",
                           "confirm", "description", "customer", "setup_future_usage", "off_session"})
CUSTOMER_PARAMS = frozenset({"description"})
CAPTURE_PARAMS = frozenset({"amount_to_capture"})
CANCEL_PARAMS = frozenset({"cancellation_reason"})
REFUND_PARAMS = frozenset({"payment_intent", "amount"})
CANCELABLE = frozenset({"requires_payment_method", "requires_confirmation", "requires_action",
                        "requires_capture"})


@dataclass(frozen=True)
class Received:
    """One request as it arrived."""

    method: str
    path: str
    headers: dict[str, str]  # lower-case names
    form: dict[str, str]
    body: str


@dataclass
class Intent:
    id: str
    amount: int
    currency: str
    payment_method: str
    status: str
    description: str | None
    metadata: dict[str, str]
    created: int
    customer: str | None = None
    setup_future_usage: str | None = None
    amount_capturable: int = 0
    amount_received: int = 0
    refunded: int = 0
    latest_charge: str | None = None
    last_payment_error: dict | None = None

    def as_json(self) -> dict:
        return {
            "id": self.id, "object": "payment_intent", "amount": self.amount,
            "amount_capturable": self.amount_capturable, "amount_received": self.amount_received,
            "currency": self.currency, "capture_method": "manual", "confirmation_method": "automatic",
            "created": self.created, "description": self.description, "latest_charge": self.latest_charge,
            "last_payment_error": self.last_payment_error, "livemode": False, "metadata": dict(self.metadata),
            "payment_method": self.payment_method, "payment_method_types": ["card"], "status": self.status,
            "customer": self.customer, "setup_future_usage": self.setup_future_usage,
        }


@dataclass
class Customer:
    id: str
    description: str | None
    metadata: dict[str, str]
    created: int
    payment_methods: list[str] = field(default_factory=list)  # attached, in order

    def as_json(self) -> dict:
        return {"id": self.id, "object": "customer", "created": self.created, "description": self.description,
                "email": None, "name": None, "livemode": False, "metadata": dict(self.metadata)}


@dataclass
class _Fault:
    kind: str          # "timeout" or "error"
    processed: bool    # the work is done before the fault (and, for an error, its answer saved)
    path_suffix: str | None
    status: int


class StripeError(Exception):
    """An error answer: status and Stripe's error object. `saved`: the endpoint had begun its work."""

    def __init__(self, status: int, kind: str, message: str, *, code: str | None = None,
                 param: str | None = None, saved: bool = True, **extra):
        super().__init__(message)
        self.status, self.saved = status, saved
        self.error = {"type": kind, "message": message, **extra}
        if code:
            self.error["code"] = code
        if param:
            self.error["param"] = param


def _refuse(message: str, *, code: str | None = None, param: str | None = None, status: int = 400,
            saved: bool = False) -> StripeError:
    return StripeError(status, "invalid_request_error", message, code=code, param=param, saved=saved)


class FakeStripe:
    """Start with `with FakeStripe() as stripe:`; point the adapter at `stripe.base_url`."""

    def __init__(self, api_key: str = API_KEY, *, hold_seconds: float = 30.0):
        self.api_key = api_key
        self.hold_seconds = hold_seconds  # how long a "timeout" holds its answer, at most
        self._lock = threading.Lock()
        self._release = threading.Event()
        self._requests: list[Received] = []
        self._intents: dict[str, Intent] = {}
        self._refunds: dict[str, dict] = {}
        self._saved: dict[str, tuple[tuple, int, dict]] = {}  # idempotency key -> (request, status, body)
        self._faults: list[_Fault] = []
        self._declines: list[tuple[str, str, str]] = []
        self._customers: dict[str, Customer] = {}
        # A test token (pm_card_visa...) used in an intent becomes a payment method of its own, as at
        # Stripe: its new id -> the token it came from. Later charges must name the new id.
        self._made_from: dict[str, str] = {}
        self._authentications = 0  # off-session intents still to fail with authentication_required
        self._ids = itertools.count(1)
        self._server: ThreadingHTTPServer | None = None

    # --- control -----------------------------------------------------------------------------------

    def start(self) -> FakeStripe:
        handler = type("Handler", (_Handler,), {"fake": self})
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05},
                         name="fake-stripe", daemon=True).start()
        return self

    def stop(self) -> None:
        self._release.set()  # wake any request held for a timeout
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def __enter__(self) -> FakeStripe:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    @property
    def base_url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def fail_next(self, kind: str, *, processed: bool = True, path_suffix: str | None = None,
                  status: int = 500) -> None:
        """Make the next request (whose path ends with `path_suffix`, if given) fail.

        kind "timeout": hold the answer until the client has given up; `processed` says whether the
        work was done first (the client cannot tell). kind "error": answer `status` (500); processed
        False fails before the work and saves nothing, True does the work and saves the error answer
        under the idempotency key, so retries with that key get it again.
        """
        if kind not in ("timeout", "error"):
            raise ValueError(kind)
        with self._lock:
            self._faults.append(_Fault(kind, processed, path_suffix, status))

    def decline_next(self, code: str = "card_declined", decline_code: str = "insufficient_funds",
                     message: str = "Your card has insufficient funds.") -> None:
        """Make the next PaymentIntent created decline, whatever its payment method."""
        with self._lock:
            self._declines.append((code, decline_code, message))

    def require_authentication_next(self) -> None:
        """Make the next off-session PaymentIntent fail with authentication_required: its issuer wants
        the customer to confirm, and the customer is not at the checkout."""
        with self._lock:
            self._authentications += 1

    @property
    def customers(self) -> dict[str, Customer]:
        with self._lock:
            return dict(self._customers)

    @property
    def requests(self) -> list[Received]:
        with self._lock:
            return list(self._requests)

    @property
    def intents(self) -> dict[str, Intent]:
        with self._lock:
            return dict(self._intents)

    @property
    def refunds(self) -> list[dict]:
        with self._lock:
            return list(self._refunds.values())

    # --- serving -----------------------------------------------------------------------------------

    def handle(self, request: _Handler, method: str) -> None:
        length = int(request.headers.get("Content-Length") or 0)
        body = request.rfile.read(length).decode("utf-8") if length else ""
        path = request.path.split("?", 1)[0]
        pairs = parse_qsl(body, keep_blank_values=True)
        received = Received(method, path, {k.lower(): v for k, v in request.headers.items()}, dict(pairs), body)
        with self._lock:
            self._requests.append(received)
            fault = self._take_fault(path)

        if fault and fault.kind == "timeout" and not fault.processed:
            self._release.wait(self.hold_seconds)  # the request is lost: nothing done, no answer
            return
        if fault and fault.kind == "error" and not fault.processed:
            self._send(request, fault.status, {"error": {"type": "api_error",
                                                         "message": "An unexpected error occurred."}})
            return

        status, answer, replayed = self._answer(received, pairs, fault)
        if fault and fault.kind == "timeout":
            self._release.wait(self.hold_seconds)  # done, but the client has given up by now
        self._send(request, status, answer, replayed=replayed)

    def _take_fault(self, path: str) -> _Fault | None:
        for i, fault in enumerate(self._faults):
            if fault.path_suffix is None or path.endswith(fault.path_suffix):
                return self._faults.pop(i)
        return None

    def _answer(self, received: Received, pairs: list[tuple[str, str]],
                fault: _Fault | None) -> tuple[int, dict, bool]:
        if received.headers.get("authorization") != f"Bearer {self.api_key}":
            shown = received.headers.get("authorization", "")[-4:]
            return 401, {"error": {"type": "invalid_request_error",
                                   "message": f"Invalid API Key provided: sk_****{shown}"}}, False
        key = received.headers.get("idempotency-key") if received.method == "POST" else None
        fingerprint = (received.method, received.path, tuple(sorted(pairs)))
        with self._lock:
            if key is not None and key in self._saved:
                first, status, answer = self._saved[key]
                if first != fingerprint:
                    return 400, {"error": {
                        "type": "idempotency_error",
                        "message": "Keys for idempotent requests can only be used with the same parameters "
                                   "they were first used with.",
                    }}, False
                return status, answer, True
            try:
                status, answer = 200, self._route(received)
                saved = True
            except StripeError as exc:
                status, answer, saved = exc.status, {"error": exc.error}, exc.saved
            if fault and fault.kind == "error":  # the work is done, then the server fails
                status, answer, saved = fault.status, {"error": {"type": "api_error",
                                                                 "message": "An unexpected error occurred."}}, True
            if key is not None and saved:
                self._saved[key] = (fingerprint, status, answer)
        return status, answer, False

    def _send(self, request: _Handler, status: int, answer: dict, *, replayed: bool = False) -> None:
        data = json.dumps(answer).encode()
        try:
            request.send_response(status)
            request.send_header("Content-Type", "application/json")
            request.send_header("Content-Length", str(len(data)))
            request.send_header("Request-Id", f"req_fake{next(self._ids):06d}")
            if replayed:
                request.send_header("Idempotent-Replayed", "true")
            request.end_headers()
            request.wfile.write(data)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client gave up (a timeout): nobody is listening

    # --- the API (called with the lock held) -----------------------------------------------------

    def _route(self, r: Received) -> dict:
        if r.method == "POST" and r.path == "/v1/payment_intents":
            return self._create(r.form)
        if r.method == "POST" and r.path == "/v1/refunds":
            return self._refund(r.form)
        if r.method == "POST" and r.path == "/v1/customers":
            return self._create_customer(r.form)
        found = re.fullmatch(r"/v1/payment_intents/([^/]+)(/capture|/cancel)?", r.path)
        if found:
            intent = self._intents.get(found.group(1))
            if intent is None:
                raise _refuse(f"No such payment_intent: '{found.group(1)}'", code="resource_missing",
                              param="intent", status=404)
            if r.method == "GET" and not found.group(2):
                return intent.as_json()
            if r.method == "POST" and found.group(2) == "/capture":
                return self._capture(intent, r.form)
            if r.method == "POST" and found.group(2) == "/cancel":
                return self._cancel(intent, r.form)
        raise _refuse(f"Unrecognized request URL ({r.method}: {r.path}).", status=404)

    def _create(self, form: dict[str, str]) -> dict:
        _only(form, CREATE_PARAMS, prefix="metadata[")
        amount = _amount(form, "amount", required=True)
        currency = form.get("currency", "")
        if not re.fullmatch(r"[a-z]{3}", currency):
            raise _refuse(f"Invalid currency: {currency}.", code="parameter_invalid_string", param="currency")
        if form.get("payment_method_types[]", "card") != "card" or form.get("capture_method") != "manual" \
                or form.get("confirm") != "true":
            raise _refuse("this fake implements only card PaymentIntents with capture_method=manual and "
                          "confirm=true", param="capture_method")
        method = form.get("payment_method", "")
        token = self._made_from.get(method, method)
        if token not in TEST_PAYMENT_METHODS and token not in NEEDS_AUTHENTICATION:
            raise _refuse(f"No such PaymentMethod: '{method}'", code="resource_missing", param="payment_method")
        customer, off_session = self._kept_for(form, method)
        if method == token:  # a test token: this intent's card is a new payment method
            method = f"pm_fake{next(self._ids):06d}"
            self._made_from[method] = token
        intent = Intent(
            id=f"pi_fake{next(self._ids):06d}", amount=amount, currency=currency, payment_method=method,
            status="requires_capture", description=form.get("description"),
            metadata={k[len("metadata["):-1]: v for k, v in form.items() if k.startswith("metadata[")},
            created=int(time.time()), customer=customer.id if customer else None,
            setup_future_usage=form.get("setup_future_usage"),
        )
        self._intents[intent.id] = intent
        decline = self._declines.pop(0) if self._declines else TEST_PAYMENT_METHODS.get(token)
        if off_session and not decline and self._authentications:
            # Nobody can authenticate off session: Stripe fails the attempt instead of asking.
            self._authentications -= 1
            decline = ("authentication_required", "authentication_required",
                       "Your card was declined. This transaction requires authentication.")
        if decline:
            code, decline_code, message = decline
            intent.status = "requires_payment_method"
            intent.last_payment_error = {"type": "card_error", "code": code, "decline_code": decline_code,
                                         "message": message}
            raise StripeError(402, "card_error", message, code=code, decline_code=decline_code,
                              payment_intent=intent.as_json())
        if token in NEEDS_AUTHENTICATION:
            intent.status = "requires_action"
        else:
            intent.amount_capturable = amount
            intent.latest_charge = f"ch_fake{next(self._ids):06d}"
            if customer is not None and intent.setup_future_usage and method not in customer.payment_methods:
                customer.payment_methods.append(method)  # kept for later charges
        return intent.as_json()

    def _kept_for(self, form: dict[str, str], method: str) -> tuple[Customer | None, bool]:
        """The intent's Customer and whether it is off session, refused as Stripe refuses them: an unknown
        Customer, and an off-session charge of a payment method not attached to its Customer."""
        customer = None
        if "customer" in form:
            customer = self._customers.get(form["customer"])
            if customer is None:
                raise _refuse(f"No such customer: '{form['customer']}'", code="resource_missing", param="customer")
        usage = form.get("setup_future_usage")
        if usage is not None and usage not in ("off_session", "on_session"):
            raise _refuse("Invalid setup_future_usage: must be one of off_session, on_session",
                          code="parameter_invalid_string", param="setup_future_usage")
        off_session = form.get("off_session", "false")
        if off_session not in ("true", "false"):
            raise _refuse("Invalid boolean: off_session", code="parameter_invalid_boolean", param="off_session")
        if off_session == "true" and (customer is None or method not in customer.payment_methods):
            whose = f"customer '{customer.id}'" if customer else "a customer (none was given)"
            raise _refuse(f"The PaymentMethod '{method}' is not attached to {whose}: a payment method is "
                          "charged off session only once it is saved to the customer it is charged for.",
                          param="payment_method")
        return customer, off_session == "true"

    def _create_customer(self, form: dict[str, str]) -> dict:
        _only(form, CUSTOMER_PARAMS, prefix="metadata[")
        customer = Customer(id=f"cus_fake{next(self._ids):06d}", description=form.get("description"),
                            metadata={k[len("metadata["):-1]: v for k, v in form.items() if k.startswith("metadata[")},
                            created=int(time.time()))
        self._customers[customer.id] = customer
        return customer.as_json()

    def _capture(self, intent: Intent, form: dict[str, str]) -> dict:
        _only(form, CAPTURE_PARAMS)
        amount = _amount(form, "amount_to_capture") or intent.amount_capturable
        if intent.status != "requires_capture":
            raise _refuse(f"This PaymentIntent could not be captured because it has a status of {intent.status}. "
                          "Only a PaymentIntent with status requires_capture can be captured.",
                          code="payment_intent_unexpected_state", saved=True)
        if amount > intent.amount_capturable:
            raise _refuse(f"The amount to capture ({amount}) is more than the amount capturable "
                          f"({intent.amount_capturable}).", code="amount_too_large", param="amount_to_capture",
                          saved=True)
        intent.amount_received, intent.amount_capturable, intent.status = amount, 0, "succeeded"
        return intent.as_json()

    def _cancel(self, intent: Intent, form: dict[str, str]) -> dict:
        _only(form, CANCEL_PARAMS)
        if intent.status not in CANCELABLE:
            raise _refuse(f"You cannot cancel this PaymentIntent because it has a status of {intent.status}.",
                          code="payment_intent_unexpected_state", saved=True)
        intent.status, intent.amount_capturable = "canceled", 0
        return intent.as_json()

    def _refund(self, form: dict[str, str]) -> dict:
        _only(form, REFUND_PARAMS)
        intent = self._intents.get(form.get("payment_intent", ""))
        if intent is None:
            raise _refuse(f"No such payment_intent: '{form.get('payment_intent', '')}'", code="resource_missing",
                          param="payment_intent")
        if intent.status != "succeeded":
            raise _refuse(f"This PaymentIntent has no successful charge to refund (status {intent.status}).",
                          param="payment_intent", saved=True)
        left = intent.amount_received - intent.refunded
        amount = _amount(form, "amount") or left
        if left == 0:
            raise _refuse(f"Charge {intent.latest_charge} has already been refunded.",
                          code="charge_already_refunded", saved=True)
        if amount > left:
            raise _refuse(f"Refund amount ({amount}) is greater than the unrefunded amount on the charge ({left}).",
                          param="amount", saved=True)
        intent.refunded += amount
        refund = {"id": f"re_fake{next(self._ids):06d}", "object": "refund", "amount": amount,
                  "currency": intent.currency, "payment_intent": intent.id, "charge": intent.latest_charge,
                  "status": "succeeded", "reason": None, "metadata": {}, "created": int(time.time())}
        self._refunds[refund["id"]] = refund
        return refund


def _only(form: dict[str, str], allowed: frozenset[str], prefix: str | None = None) -> None:
    for name in form:
        if name not in allowed and not (prefix and name.startswith(prefix) and name.endswith("]")):
            raise _refuse(f"Received unknown parameter: {name}", code="parameter_unknown", param=name)


def _amount(form: dict[str, str], name: str, *, required: bool = False) -> int:
    """A positive integer parameter; 0 when absent and not required."""
    raw = form.get(name)
    if raw is None:
        if required:
            raise _refuse(f"Missing required param: {name}.", code="parameter_missing", param=name)
        return 0
    if not re.fullmatch(r"[0-9]+", raw) or int(raw) < 1:
        raise _refuse(f"Invalid positive integer: {name}", code="parameter_invalid_integer", param=name)
    if int(raw) > MAX_AMOUNT:
        raise _refuse(f"Amount must be no more than {MAX_AMOUNT}", code="amount_too_large", param=name)
    return int(raw)


class _Handler(BaseHTTPRequestHandler):
    fake: FakeStripe  # set on the subclass made in FakeStripe.start

    def do_POST(self) -> None:  # noqa: N802 (http.server's naming)
        self.fake.handle(self, "POST")

    def do_GET(self) -> None:  # noqa: N802
        self.fake.handle(self, "GET")

    def log_message(self, format: str, *args) -> None:  # quiet: tests read `requests` instead
        pass
