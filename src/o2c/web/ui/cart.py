"""The portal's cart: SKUs and quantities in a signed cookie, nothing stored on the server.

A cart is a plain dict SKU -> quantity (Decimal), in the order lines were added. The cookie is signed
with the session's secret (itsdangerous) and names the user it belongs to, so a cart left in a browser
is not carried over to the next person who logs in there. Prices are never in the cookie: the cart page
prices it for the customer each time.
"""
from __future__ import annotations

from decimal import Decimal, InvalidOperation

from itsdangerous import BadSignature, URLSafeSerializer

COOKIE = "o2c_cart"
MAX_LINES = 50  # a cookie holds about 4 KB; a bigger order goes through the desk or EDI

Cart = dict[str, Decimal]


class CartFull(ValueError):
    """The cart has MAX_LINES lines already."""


def add(cart: Cart, sku: str, quantity: Decimal) -> Cart:
    """The cart with `quantity` more of `sku` (a new line at the end if it had none)."""
    if sku not in cart and len(cart) >= MAX_LINES:
        raise CartFull(f"the cart holds at most {MAX_LINES} products; place this order first")
    return {**cart, sku: cart.get(sku, Decimal(0)) + quantity}


def set_quantity(cart: Cart, sku: str, quantity: Decimal) -> Cart:
    """The cart with the line of `sku` at `quantity`, where it was (at the end if new)."""
    if sku not in cart and len(cart) >= MAX_LINES:
        raise CartFull(f"the cart holds at most {MAX_LINES} products; place this order first")
    return {**cart, sku: quantity}


def remove(cart: Cart, sku: str) -> Cart:
    return {k: v for k, v in cart.items() if k != sku}


def _serializer(secret: str) -> URLSafeSerializer:
    return URLSafeSerializer(secret, salt="o2c-portal-cart")


def encode(cart: Cart, user_id: int, secret: str) -> str:
    return _serializer(secret).dumps([user_id, [[sku, str(q)] for sku, q in cart.items()]])


def decode(token: str | None, user_id: int, secret: str) -> Cart:
    """The cart in the cookie; empty when there is none, it is forged, or it is another user's."""
    if not token:
        return {}
    try:
        owner, lines = _serializer(secret).loads(token)
        if owner != user_id:
            return {}
        return {str(sku): Decimal(str(q)) for sku, q in lines[:MAX_LINES]}
    except (BadSignature, ValueError, TypeError, InvalidOperation):
        return {}
