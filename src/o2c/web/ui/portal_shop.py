"""The customer portal's ordering side: catalogue with the customer's prices, cart, orders, reorder, tracking.

Every read and write passes the portal user as the actor, whose customer_id makes the services return that
customer's records only; ids that come from a URL or a form (an order, a ship-to address) are checked to be
the customer's own as well, and anything else is "no such ..." (404), never a refusal that confirms it exists.
"""
from __future__ import annotations

import json
import secrets
from datetime import date
from decimal import Decimal, InvalidOperation
from typing import Annotated
from urllib.parse import urlencode

from babel.numbers import format_currency
from fastapi import APIRouter, Depends, Query, Request
from pydantic import ValidationError
from starlette.datastructures import FormData

from o2c.billing import service as billing
from o2c.core import clock, idempotency
from o2c.core.db import read_session
from o2c.core.errors import Conflict, IdempotencyMismatch, NotFound, O2CError
from o2c.core.money import plain
from o2c.core.schemas import IdPath, MAX_ID
from o2c.customers import service as customers
from o2c.fulfillment import service as fulfillment
from o2c.orders import quote as quoting
from o2c.orders import service as orders
from o2c.orders.schemas import OrderIn
from o2c.shipping import service as shipping
from o2c.shipping import tracking
from o2c.web.ui import cart as carts
from o2c.web.ui.context import PortalDep, Ui
from o2c.web.ui.forms import errors_of, text, values
from o2c.web.ui.pages import fragment, page, redirect
from o2c.web.ui.sessions import _secret

router = APIRouter(include_in_schema=False)

CHANNEL = "b2b_portal"
PAGE = 50

# What a customer is told about their order: the state in plain words, never an internal reason (a
# fraud score, a credit limit, a screening hit).
STATUS_WORDS = {"held": "On hold", "validated": "Received", "confirmed": "Confirmed",
                "backordered": "Waiting for stock", "cancelled": "Cancelled"}
HOLD_WORDS = {
    "validation": "Our order desk is checking some details of your order with you.",
    "duplicate": "Being checked: this PO number is on another of your orders.",
    "pricing": "The prices are being confirmed.",
    "customer": "Your account is being set up; the order goes ahead once it is.",
    "compliance": "Being reviewed.",
    "credit": "Being reviewed by our accounts team.",
    "fraud": "Being reviewed.",
}
DELIVERY_WORDS = {"none": "Not shipped yet", "partial": "Partly shipped", "shipped": "Shipped",
                  "delivered": "Delivered"}
SHIPMENT_WORDS = {"released": "Being prepared", "picked": "Being prepared", "packed": "Packed",
                  "shipped": "On its way", "delivered": "Delivered", "cancelled": "Cancelled"}


def unit_price(amount: Decimal | None, currency: str) -> str:
    """A unit price with the decimals it has (a bolt at $0.3333), at least the currency's own."""
    if amount is None:
        return ""
    return format_currency(amount, currency, format="¤#,##0.00##", currency_digits=False, locale="en_US")


async def _form(request: Request) -> FormData:
    """The posted form, read before the page runs (in a worker thread, as its database work blocks)."""
    return await request.form()


FormDep = Annotated[FormData, Depends(_form)]


def _page(ui: Ui, name: str, **context):
    return page(ui, name, price=unit_price, **context)


def _poll(ui: Ui, name: str, **context):
    """A polled refresh of live status: not the user's activity, so the idle session clock keeps running."""
    return fragment(ui, name, activity=False, price=unit_price, **context)


def _no_order() -> NotFound:
    return NotFound("no such order")


# ---------------------------------------------------------------- the cart cookie

def _cart(ui: Ui) -> carts.Cart:
    return carts.decode(ui.request.cookies.get(carts.COOKIE), ui.actor.user_id, _secret())


def _keep_cart(ui: Ui, response, cart: carts.Cart):
    if cart:
        response.set_cookie(carts.COOKIE, carts.encode(cart, ui.actor.user_id, _secret()), path="/portal",
                            httponly=True, samesite="lax", secure=ui.request.url.scheme == "https")
    else:
        response.delete_cookie(carts.COOKIE, path="/portal")
    return response


def _quantity(raw: str | None) -> Decimal | None:
    """A typed quantity, or None when it is not a number."""
    try:
        q = Decimal((raw or "").strip().replace(",", ""))
    except InvalidOperation:
        return None
    return q if q.is_finite() else None


# ---------------------------------------------------------------- catalogue

def _catalogue(ui: Ui, q: str | None, after: int, *, sku: str | None = None, typed: dict | None = None,
               errors: dict | None = None, status: int = 200):
    with read_session() as s:
        currency, items = quoting.offers(s, ui.actor, ui.company_id, ui.actor.customer_id, q=q, after=after,
                                         limit=PAGE)
    more = f"/portal?{urlencode({'q': q or '', 'after': items[-1].product_id})}" if len(items) == PAGE else None
    return _page(ui, "portal/shop/catalogue.html", status=status, active="/portal", title="Catalogue", q=q or "",
                items=items, currency=currency, next_url=more, in_cart=_cart(ui), err_sku=sku,
                values=typed or {}, errors=errors or {})


@router.get("/portal")
def catalogue(ui: PortalDep, q: str | None = Query(None, max_length=200), after: int = Query(0, ge=0, le=MAX_ID)):
    return _catalogue(ui, (q or "").strip() or None, after)


@router.post("/portal/cart/add")
def add_to_cart(ui: PortalDep, form: FormDep):
    sku, q = text(form, "sku") or "", text(form, "q")
    quantity = _quantity(text(form, "quantity"))
    cart = _cart(ui)
    error = "enter a number" if quantity is None else None
    if error is None:  # what is typed must be orderable itself (a multiple of 12 added to one stays one)
        with read_session() as s:
            [line] = quoting.quote(s, ui.actor, ui.company_id, ui.actor.customer_id, [(sku, quantity)]).lines
        error = line.error
    if error is None:
        try:
            cart = carts.add(cart, sku, quantity)
        except carts.CartFull as exc:
            error = str(exc)
    if error:
        return _catalogue(ui, q, 0, sku=sku, typed={"quantity": form.get("quantity", "")},
                          errors={"quantity": error}, status=422)
    back = "/portal" + (f"?{urlencode({'q': q})}" if q else "")
    return _keep_cart(ui, redirect(ui, back, flash=f"Added {plain(quantity)} × {sku} to your cart."), cart)


# ---------------------------------------------------------------- cart and checkout

def _addresses(session, ui: Ui) -> list[tuple[str, str, dict]]:
    """The customer's shipping addresses: (id, one line for a select, the address fields)."""
    view = customers.customer_view(session, ui.company_id, ui.actor.customer_id, ui.actor)
    out = []
    for a in view["shipping_addresses"]:
        fields = {k: getattr(a, k) for k in orders.SHIP_TO}
        words = ", ".join(v for v in (a.name, a.line1, a.city, a.region, a.postal_code, a.country) if v)
        out.append((str(a.id), words, fields))
    return out


def _ship_to(addresses: list[tuple[str, str, dict]], chosen: str | None) -> tuple[str, dict] | None:
    """The address picked in the form (the first when none is picked); None when it is not the customer's."""
    if not addresses:
        return None
    if not chosen:
        return addresses[0][0], addresses[0][2]
    return next(((i, fields) for i, _, fields in addresses if i == chosen), None)


def _form_lines(form: FormData) -> list[tuple[str, str]]:
    """(SKU, typed quantity) of each cart line in the form, in order."""
    out = []
    for i in range(carts.MAX_LINES):
        sku = form.get(f"lines[{i}].sku")
        if not isinstance(sku, str):
            break
        qty = form.get(f"lines[{i}].quantity")
        out.append((sku.strip(), qty if isinstance(qty, str) else ""))
    return out


def _line_values(lines: list[tuple[str, str]]) -> dict[str, str]:
    out = {}
    for i, (sku, qty) in enumerate(lines):
        out[f"lines[{i}].sku"], out[f"lines[{i}].quantity"] = sku, qty
    return out


def _priced(ui: Ui, session, lines: list[tuple[str, str]], ship: dict | None):
    """The cart quoted for this customer, and the quantity errors by field."""
    errors, parsed = {}, []
    for i, (sku, raw) in enumerate(lines):
        q = _quantity(raw)
        if q is None:
            errors[f"lines[{i}].quantity"] = "enter a number"
        parsed.append((sku, q if q is not None else Decimal(0)))
    quote = quoting.quote(session, ui.actor, ui.company_id, ui.actor.customer_id, parsed, ship)
    for i, line in enumerate(quote.lines):
        if line.error:
            errors.setdefault(f"lines[{i}].quantity", line.error)
    return quote, errors


def _cart_page(ui: Ui, lines: list[tuple[str, str]], typed: dict, errors: dict | None = None, status: int = 200):
    with read_session() as s:
        addresses = _addresses(s, ui)
        chosen = _ship_to(addresses, typed.get("ship_to_id")) or _ship_to(addresses, None)
        quote, line_errors = _priced(ui, s, lines, chosen[1] if chosen else None)
    shown = {**(line_errors if errors is None else {}), **(errors or {})}
    typed = {"ship_to_id": chosen[0] if chosen else "", **_line_values(lines), **typed,
             "idem_key": typed.get("idem_key") or secrets.token_urlsafe(18)}
    return _page(ui, "portal/shop/cart.html", status=status, active="/portal/cart", title="Cart", quote=quote,
                addresses=[(i, words) for i, words, _ in addresses], values=typed, errors=shown)


def _cart_lines(cart: carts.Cart) -> list[tuple[str, str]]:
    return [(sku, plain(q)) for sku, q in cart.items()]


@router.get("/portal/cart")
def view_cart(ui: PortalDep):
    return _cart_page(ui, _cart_lines(_cart(ui)), {})


@router.post("/portal/cart/update")
def update_cart(ui: PortalDep, form: FormDep):
    lines = _form_lines(form)
    with read_session() as s:
        _, errors = _priced(ui, s, lines, None)
    if errors:
        return _cart_page(ui, lines, values(form), errors, status=422)
    cart: carts.Cart = {}
    for sku, raw in lines:
        cart = carts.set_quantity(cart, sku, _quantity(raw))
    return _keep_cart(ui, redirect(ui, "/portal/cart", flash="Cart updated."), cart)


@router.post("/portal/cart/remove")
def remove_from_cart(ui: PortalDep, form: FormDep):
    sku = text(form, "remove") or ""
    return _keep_cart(ui, redirect(ui, "/portal/cart", flash=f"{sku} removed from your cart."),
                      carts.remove(_cart(ui), sku))


def _requested_date(ui: Ui, raw: str | None) -> tuple[date | None, str | None]:
    """The requested delivery date typed, or why it cannot be one (a past day would hold the order)."""
    if raw is None:
        return None, None
    try:
        day = date.fromisoformat(raw)
    except ValueError:
        return None, "enter a date as YYYY-MM-DD"
    if day < clock.today_in(ui.tz.key):
        return None, "pick today or a later day"
    return day, None


def _request_hash(ui: Ui, typed: dict) -> str:
    """The checkout as sent: a double-click sends the same form twice, so the same hash under the same key."""
    body = json.dumps(typed, sort_keys=True).encode()
    return idempotency.request_hash("POST", f"{ui.company_id}:/portal/cart/order", body)


@router.post("/portal/cart/order")
def place_order(ui: PortalDep, form: FormDep):
    typed, lines, key = values(form), _form_lines(form), text(form, "idem_key")
    with read_session() as s:
        chosen = _ship_to(_addresses(s, ui), text(form, "ship_to_id"))
        if chosen is None:
            raise NotFound("no such address")
        _, errors = _priced(ui, s, lines, chosen[1])
    requested, date_error = _requested_date(ui, text(form, "requested_date"))
    if date_error:
        errors["requested_date"] = date_error
    if not lines:
        errors["_form"] = "your cart is empty"
    elif not key:
        errors["_form"] = "this form has expired: reload the cart and place the order again"
    if errors:
        return _cart_page(ui, lines, typed, errors, status=422)

    def work(session):
        data = OrderIn(customer_id=ui.actor.customer_id, channel=CHANNEL, po_number=text(form, "po_number"),
                       ship_to=chosen[1], requested_date=requested, notes=text(form, "notes"),
                       lines=[{"sku": sku, "quantity": qty} for sku, qty in lines])
        order = orders.capture(session, ui.actor, ui.company_id, data)
        return 201, {"id": order.id, "number": order.number}

    try:
        _, body, replayed = idempotency.run(ui.actor, key, _request_hash(ui, typed), work)
    except IdempotencyMismatch:
        return _cart_page(ui, lines, {**typed, "idem_key": ""}, {
            "_form": "this order was placed already (you went back to an earlier page); check the order below "
                     "and place it again if you want another"}, status=422)
    except (O2CError, ValidationError) as exc:
        return _cart_page(ui, lines, typed, _on_form(errors_of(exc), typed), status=422)
    flash = f"Order {body['number']} " + ("was placed already." if replayed else "placed. Thank you!")
    return _keep_cart(ui, redirect(ui, f"/portal/orders/{body['id']}", flash=flash), {})


def _on_form(errors: dict, typed: dict) -> dict:
    """Each refusal beside its field: a line's SKU or price beside its quantity, and what names no field
    of this form (the order as a whole, the idempotency key) above it."""
    out: dict[str, str] = {}
    for name, message in errors.items():
        if name.startswith("lines[") and "." in name:
            name = name.split(".", 1)[0] + ".quantity"
        if name not in typed and name != "_form":
            message, name = f"{name}: {message}", "_form"
        out.setdefault(name, message)
    return out


# ---------------------------------------------------------------- orders

def _order_rows(ui: Ui, before: int | None):
    with read_session() as s:
        rows = orders.list_orders(s, ui.actor, ui.company_id, before_id=before, limit=PAGE)
        items = [orders.order_view(o) for o in rows]
        more = f"/portal/orders?before={rows[-1].id}" if len(rows) == PAGE else None  # before the rollback expires it
    return items, more


@router.get("/portal/orders")
def list_orders(ui: PortalDep, before: int | None = Query(None, ge=1, le=MAX_ID)):
    items, more = _order_rows(ui, before)
    return _page(ui, "portal/shop/orders.html", active="/portal/orders", title="Orders", orders=items,
                next_url=more, before=before, words=STATUS_WORDS, delivery=DELIVERY_WORDS)


@router.get("/portal/orders/live")
def orders_live(ui: PortalDep, before: int | None = Query(None, ge=1, le=MAX_ID)):
    items, more = _order_rows(ui, before)
    return _poll(ui, "portal/shop/_orders_table.html", orders=items, next_url=more, before=before,
                    words=STATUS_WORDS, delivery=DELIVERY_WORDS)


def _own_order(session, ui: Ui, order_id: int):
    try:
        order = orders.get_order(session, ui.actor, ui.company_id, order_id)
    except NotFound:
        raise _no_order() from None
    if order.customer_id != ui.actor.customer_id:
        raise _no_order()
    return order


def _tracking_link(fmt: str | None, number: str) -> str | None:
    """The carrier's public tracking page for the number, when o2c knows one."""
    try:
        return tracking.tracking_url(fmt, number) if fmt else None
    except ValueError:
        return None


def _shipment(session, ui: Ui, sh, carriers: dict) -> dict:
    view = fulfillment.shipment_view(session, sh)
    events = shipping.list_events(session, ui.actor, ui.company_id, sh.id)
    carrier = carriers.get(view["carrier"])
    return {**view, "carrier_name": carrier.name if carrier else view["carrier"],
            "words": SHIPMENT_WORDS.get(view["status"], view["status"]),
            "tracking": [(p["tracking_number"], _tracking_link(carrier.tracking_format if carrier else None,
                                                               p["tracking_number"]))
                         for p in view["packages"] if p["tracking_number"]],
            "last_event": shipping.event_view(events[-1]) if events else None}


def payment_words(status: str, invoices: list[dict]) -> str | None:
    """Where the money stands, in the customer's words: nothing to pay before an invoice exists."""
    if not invoices or status == "cancelled":
        return None
    open_total = sum((i["open"] for i in invoices), Decimal(0))
    if open_total <= 0:
        return "Paid"
    if open_total < sum((i["total"] for i in invoices), Decimal(0)):
        return "Part paid"
    return "Awaiting payment"


def _order_detail(ui: Ui, order_id: int) -> dict:
    with read_session() as s:
        order = _own_order(s, ui, order_id)
        view = orders.order_view(order)
        holds = [{"kind": h.kind, "text": HOLD_WORDS.get(h.kind, "Being reviewed."),
                  "details": [r["message"] for r in h.reasons] if h.kind == "validation" else []}
                 for h in order.holds if h.active]
        carriers = {c.code: c for c in shipping.list_carriers(s, ui.company_id)}
        rows = fulfillment.list_shipments(s, ui.actor, ui.company_id, status=None, order_id=order.id, after=0,
                                          limit=100)
        shipments = [_shipment(s, ui, sh, carriers) for sh in rows if sh.order_id == order.id]
        found = billing.list_invoices(s, ui.actor, ui.company_id, order_id=order.id, limit=100)
        still_open = billing.open_amounts(s, [i.id for i in found])
        invoices = [{"id": i.id, "number": i.number, "issue_date": i.issue_date, "total": i.gross_total,
                     "due_date": i.due_date, "open": still_open.get(i.id, Decimal(0))} for i in found]
    return {"order": view, "holds": holds, "shipments": shipments, "invoices": invoices,
            "payment": payment_words(view["status"], invoices),
            "delivered": any(sh["status"] == "delivered" for sh in shipments),
            "words": STATUS_WORDS, "delivery": DELIVERY_WORDS}


@router.get("/portal/orders/{order_id}")
def order_page(ui: PortalDep, order_id: IdPath):
    detail = _order_detail(ui, order_id)
    return _page(ui, "portal/shop/order.html", active="/portal/orders", title=f"Order {detail['order']['number']}",
                **detail)


@router.get("/portal/orders/{order_id}/live")
def order_live(ui: PortalDep, order_id: IdPath):
    return _poll(ui, "portal/shop/_order_live.html", **_order_detail(ui, order_id))


@router.post("/portal/orders/{order_id}/reorder")
def reorder(ui: PortalDep, order_id: IdPath):
    with read_session() as s:
        order = _own_order(s, ui, order_id)
        lines, number = [(li.sku, li.quantity) for li in order.lines], order.number
    cart = _cart(ui)
    try:
        for sku, qty in lines:
            cart = carts.add(cart, sku, qty)
    except carts.CartFull as exc:
        raise Conflict(str(exc)) from None
    return _keep_cart(ui, redirect(ui, "/portal/cart", flash=f"The lines of {number} are in your cart at "
                                   "today's prices."), cart)
