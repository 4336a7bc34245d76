"""The menu: which screens a user sees, by the permissions of their roles (staff) or the portal's."""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Section:
    href: str
    label: str
    any_of: tuple[str, ...]  # shown to a user holding any of these permissions


BACK_OFFICE = (
    Section("/app", "Dashboard", ("read",)),
    Section("/app/orders", "Orders", ("read",)),
    Section("/app/queues", "Queues", ("holds.release", "holds.release_pricing", "credit.approve", "screening.write",
                                      "fraud.review", "kyc.review")),
    Section("/app/warehouse", "Warehouse", ("fulfillment.write", "stock.write")),
    Section("/app/billing", "Billing", ("billing.write", "payments.write", "reconciliation.write", "dunning.write",
                                        "ledger.read")),
    Section("/app/customers", "Customers", ("masterdata.write", "masterdata.approve", "kyc.review", "screening.write",
                                            "credit.write", "credit.approve")),
)

PORTAL = (
    Section("/portal", "Catalogue", ("read",)),
    Section("/portal/cart", "Cart", ("orders.write",)),
    Section("/portal/orders", "Orders", ("read",)),
    Section("/portal/invoices", "Invoices", ("read",)),
    Section("/portal/statement", "Statement", ("read",)),
    Section("/portal/returns", "Returns", ("returns.request",)),
)


def sections(ui) -> list[Section]:
    wanted = PORTAL if ui.is_portal else BACK_OFFICE
    return [s for s in wanted if ui.can(*s.any_of)]


def home(ui) -> str:
    return "/portal" if ui.is_portal else "/app"
