"""Which card gateway the payment service talks to, from the settings.

One gateway for the whole installation for now: Stripe, with its secret key and base URL from
O2C_STRIPE_SECRET_KEY, O2C_STRIPE_BASE_URL and O2C_STRIPE_TIMEOUT_SECONDS. Without a key, card payments
are refused (409) before anything is stored. A company-specific choice would be read here; nothing else
knows which adapter is behind the CardGateway interface.
"""
from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from o2c.core.errors import Conflict
from o2c.core.settings import get_settings
from o2c.payments import stripe
from o2c.payments.gateway import CardGateway, check_token

STRIPE = "stripe"


def gateway_name(company_id: int) -> str:
    """The gateway a company's card payments go through (stored on each card payment)."""
    if get_settings().stripe_secret_key is None:
        raise Conflict("card payments are not set up: no gateway key is configured (O2C_STRIPE_SECRET_KEY)",
                       field="payment_method_token")
    return STRIPE


def check_payment_method(name: str, token: object) -> str:
    """The gateway's token for a card, refused (naming the field, never echoing it) when it is card data
    or not a token of this gateway."""
    if name == STRIPE:
        return check_token(token, pattern=stripe.PAYMENT_METHOD_TOKEN)
    raise Conflict(f"unknown card gateway {name!r}")


@contextmanager
def open_gateway(name: str) -> Iterator[CardGateway]:
    """A connected adapter for `name`, closed afterwards."""
    if name != STRIPE:
        raise Conflict(f"unknown card gateway {name!r}")
    settings = get_settings()
    if settings.stripe_secret_key is None:
        raise Conflict("card payments are not set up: no gateway key is configured (O2C_STRIPE_SECRET_KEY)")
    with stripe.StripeGateway(settings.stripe_secret_key.get_secret_value(), base_url=settings.stripe_base_url,
                              timeout=settings.stripe_timeout_seconds) as gw:
        yield gw
