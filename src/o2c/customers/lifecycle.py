"""A customer's status and the steps between them, pure.

    prospect --submit--> pending_kyc --activate--> active --suspend--> suspended --reinstate--> active
    any status but blocked --block--> blocked (final)

Customers created directly by master data start active; applications start as prospects. Only an
active customer's orders go past validation (o2c.customers.gate).
"""
from __future__ import annotations

from o2c.core.errors import Conflict

STATUSES = ("prospect", "pending_kyc", "active", "suspended", "blocked")

# step -> (statuses it starts from, status it leads to)
STEPS: dict[str, tuple[frozenset[str], str]] = {
    "submit": (frozenset({"prospect"}), "pending_kyc"),
    "activate": (frozenset({"pending_kyc"}), "active"),
    "suspend": (frozenset({"active"}), "suspended"),
    "reinstate": (frozenset({"suspended"}), "active"),
    "block": (frozenset({"prospect", "pending_kyc", "active", "suspended"}), "blocked"),
}


def allowed_steps(status: str) -> list[str]:
    return [step for step, (sources, _) in STEPS.items() if status in sources]


def next_status(status: str, step: str) -> str:
    """The status `step` leads to from `status`, or Conflict naming the steps that status allows."""
    sources, target = STEPS[step]
    if status not in sources:
        allowed = allowed_steps(status)
        article = "an" if status[0] in "aeiou" else "a"
        raise Conflict(f"{article} {status} customer cannot be {_PAST[step]}: "
                       + (f"allowed from {status}: {', '.join(allowed)}" if allowed else f"{status} is final"),
                       customer_status=status, allowed=allowed)
    return target


_PAST = {"submit": "submitted for KYC", "activate": "activated", "suspend": "suspended",
         "reinstate": "reinstated", "block": "blocked"}
