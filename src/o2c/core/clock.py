"""The one clock: every 'now' in the product comes from here so tests can move time."""
from __future__ import annotations

from datetime import date, datetime, timezone
from zoneinfo import ZoneInfo

_frozen: datetime | None = None


def now() -> datetime:
    """Current time in UTC (timezone-aware)."""
    return _frozen if _frozen is not None else datetime.now(timezone.utc)


def today_in(tz_name: str) -> date:
    """The business date in a company's time zone."""
    return now().astimezone(ZoneInfo(tz_name)).date()


def freeze(at: datetime | None) -> None:
    """Pin the clock (tests); None lets it run again."""
    global _frozen
    if at is not None and at.tzinfo is None:
        raise ValueError("frozen time must be timezone-aware")
    _frozen = at
