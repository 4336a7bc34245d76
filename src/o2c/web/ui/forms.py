"""Forms: run a write and, when it is refused, show each reason next to its field with what was typed.

Services name the field of every refusal (`FieldError.field`, e.g. `lines[0].quantity`); pydantic names it
by location. Both become one mapping field -> message that the templates' `field` macro shows. A refusal
that names no field goes under the key `_form`, shown above the form.
"""
from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

from pydantic import ValidationError
from sqlalchemy.orm import Session
from starlette.datastructures import FormData

from o2c.core.db import transaction
from o2c.core.errors import O2CError

T = TypeVar("T")
Errors = dict[str, str]


def _field(loc: tuple) -> str:
    out = ""
    for p in loc:
        out += f"[{p}]" if isinstance(p, int) else ("." if out else "") + str(p)
    return out or "_form"


def errors_of(exc: Exception) -> Errors:
    """field -> message for a refused write (the first message per field)."""
    out: Errors = {}
    if isinstance(exc, ValidationError):
        for e in exc.errors():
            msg = "required" if e.get("type") == "missing" else str(e.get("msg", "invalid"))
            out.setdefault(_field(tuple(e.get("loc", ()))), msg.removeprefix("Value error, "))
        return out
    if isinstance(exc, O2CError):
        for e in exc.errors:
            out.setdefault(e.field or "_form", e.message)
        named = exc.extra.get("field")
        if not out:
            out[named if isinstance(named, str) and named else "_form"] = exc.detail
        return out
    raise exc


def attempt(fn: Callable[[Session], T]) -> tuple[T | None, Errors]:
    """Run `fn` in one transaction: (its result, {}) or (None, the refusal by field). Nothing is kept when
    it is refused."""
    try:
        return transaction(fn), {}
    except (O2CError, ValidationError) as exc:
        return None, errors_of(exc)


def values(form: FormData) -> dict[str, str]:
    """What was typed, to fill the form again (the CSRF token left out)."""
    return {k: v for k, v in form.items() if k != "csrf" and isinstance(v, str)}


def text(form: FormData, name: str) -> str | None:
    """A text field trimmed, or None when empty."""
    v = form.get(name)
    if not isinstance(v, str):
        return None
    v = v.strip()
    return v or None
