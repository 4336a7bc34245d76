"""Carrier rate tables and rate shopping, pure: no I/O, no database.

A carrier's rate table is one JSON document (format: docs/shipping-rates.md) that the product stores as
it is and parses with `parse_rate_table` into a `RateTable`. Parsing checks everything once (every
problem is reported with its field path) and sorts the postal bands and weight breaks, so that pricing a
parcel is a handful of bisections. `quote` prices one service, `quotes` every service of every table,
`shop` chooses one against the promised delivery date and each service's measured on-time history, and
`estimate` gives the allocation step the cheapest cost and transit time of one parcel.
"""
from __future__ import annotations

from bisect import bisect_left, bisect_right
from collections.abc import Iterable, Mapping, Sequence, Set
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import ROUND_CEILING, Decimal, InvalidOperation
from functools import lru_cache

import pycountry

from o2c.core.errors import ErrorList, ValidationFailed
from o2c.core.money import ZERO, known_currencies, round_money

WEIGHT_STEP_KG = Decimal("0.5")  # billable weight is rounded up to this step (docs/shipping-rates.md)
ANY_ORIGIN = "*"
# The on-time prior, Beta(9, 1): a service with no history counts as 9 deliveries of 10 on time, and
# measured deliveries outweigh it once there are a few dozen (docs/shipping-rates.md, "Rate shopping").
PRIOR_ON_TIME, PRIOR_LATE = 9, 1
HUNDRED = Decimal(100)
ONE = Decimal(1)
_DAY = timedelta(days=1)
_NO_HOLIDAYS: frozenset[date] = frozenset()


# ---------------------------------------------------------------------------------------------------
# What the product passes in and gets back


@dataclass(frozen=True, slots=True)
class Place:
    country: str  # ISO 3166 alpha-2
    postal_code: str


@dataclass(frozen=True, slots=True)
class Parcel:
    """One package. Dimensions of 0 mean "not known": the parcel is billed on its actual weight."""

    weight_kg: Decimal
    length_cm: Decimal
    width_cm: Decimal
    height_cm: Decimal


@dataclass(frozen=True, slots=True)
class Breakdown:
    """The parts of a quote, each rounded to the currency's minor units; the total is their sum."""

    base: Decimal
    fuel: Decimal
    residential: Decimal
    remote: Decimal
    oversize: Decimal


@dataclass(frozen=True, slots=True)
class Quote:
    carrier: str
    service: str
    service_name: str
    zone: int
    currency: str
    billable_kg: Decimal  # the sum over the parcels
    breakdown: Breakdown
    total: Decimal
    transit_days: int  # business days
    delivery_date: date  # estimated


@dataclass(frozen=True, slots=True)
class Candidate:
    """One quote as rate shopping saw it, and why it was or was not chosen."""

    quote: Quote
    p_on_time: Decimal  # estimated probability of delivering by the carrier's own date (4 decimals)
    risk_cost: Decimal  # total + late_cost x (1 - p_on_time), in minor units
    days_late: int  # calendar days after the promise date (0 when it meets it, or there is no promise)
    chosen: bool
    reason: str


@dataclass(frozen=True, slots=True)
class Choice:
    chosen: Quote | None  # None only when there was no quote at all
    promise_date: date | None
    promise_at_risk: bool  # no service meets the promise: the earliest delivery was chosen
    candidates: tuple[Candidate, ...]  # the chosen one first, then on-time ones, then late ones


# ---------------------------------------------------------------------------------------------------
# The parsed table


@dataclass(frozen=True, slots=True)
class Bands:
    """Postal bands into one destination country: sorted, not overlapping, all `length` characters.

    A postal code falls in a band when its first `length` characters (after `normalize_postal`) lie
    between the band's `from` and `to`, both included, compared as strings. `whole` is the value for
    every postal code of the country (an entry without `from`/`to`); it never coexists with bands.
    """

    length: int
    froms: tuple[str, ...]
    tos: tuple[str, ...]
    values: tuple
    whole: object | None = None

    def find(self, postal: str):
        if self.whole is not None:
            return self.whole
        if len(postal) < self.length:
            return None
        key = postal[: self.length]
        i = bisect_right(self.froms, key) - 1
        if i >= 0 and key <= self.tos[i]:
            return self.values[i]
        return None


@dataclass(frozen=True, slots=True)
class WeightRate:
    """A service's prices into one zone: the first break whose `max_kg` is at or above the weight."""

    max_kg: tuple[Decimal, ...]  # strictly increasing
    prices: tuple[Decimal, ...]
    per_kg_over_last: Decimal | None  # None: the last break is the service's weight limit

    def price(self, kg: Decimal) -> Decimal | None:
        i = bisect_left(self.max_kg, kg)
        if i < len(self.max_kg):
            return self.prices[i]
        if self.per_kg_over_last is None:
            return None
        return self.prices[-1] + (kg - self.max_kg[-1]) * self.per_kg_over_last


@dataclass(frozen=True, slots=True)
class Surcharges:
    fuel_pct: Decimal = ZERO  # percent of the base charge only
    residential: Decimal = ZERO  # per parcel, to a residential address
    remote_areas: Mapping[str, Bands] | None = None  # country -> bands whose value is the fee per parcel
    oversize_cm: Decimal | None = None  # a parcel whose longest side is over this ...
    oversize_fee: Decimal = ZERO  # ... pays this, per parcel

    def remote_fee(self, country: str, postal: str) -> Decimal:
        bands = self.remote_areas.get(country) if self.remote_areas else None
        fee = bands.find(postal) if bands else None
        return fee if fee is not None else ZERO


@dataclass(frozen=True, slots=True)
class Service:
    code: str
    name: str
    transit_days: Mapping[int, int]  # zone -> business days
    rates: Mapping[int, WeightRate]  # zone -> prices
    surcharges: Surcharges


@dataclass(frozen=True, slots=True)
class RateTable:
    carrier: str
    currency: str
    origin_country: str
    dim_divisor: Decimal  # cm³ per kg
    services: tuple[Service, ...]
    zones: Mapping[str, Mapping[str, Bands]]  # origin postal prefix (or "*") -> destination country -> bands
    origin_lengths: tuple[int, ...]  # lengths of the origin prefixes other than "*", longest first

    def service(self, code: str) -> Service | None:
        return next((s for s in self.services if s.code == code), None)

    def zone_for(self, origin: Place, dest: Place) -> int | None:
        return self._zone(origin.country.upper(), normalize_postal(origin.postal_code),
                          dest.country.upper(), normalize_postal(dest.postal_code))

    def _zone(self, origin_country: str, origin_postal: str, country: str, postal: str) -> int | None:
        """The zone from the most specific origin prefix of the warehouse that covers the destination."""
        if origin_country != self.origin_country:
            return None
        for n in self.origin_lengths:
            by_country = self.zones.get(origin_postal[:n]) if len(origin_postal) >= n else None
            bands = by_country.get(country) if by_country else None
            zone = bands.find(postal) if bands else None
            if zone is not None:
                return zone
        by_country = self.zones.get(ANY_ORIGIN)
        bands = by_country.get(country) if by_country else None
        return bands.find(postal) if bands else None


def normalize_postal(code: str) -> str:
    """Upper case without spaces or hyphens: "k1a 0b1" -> "K1A0B1", "60614-1234" -> "606141234"."""
    return code.upper().replace(" ", "").replace("-", "")


# ---------------------------------------------------------------------------------------------------
# Parsing


_TABLE = ({"carrier", "currency", "origin_country", "dim_divisor", "zones", "services"}, {"surcharges"})
_ZONE = ({"origin", "country", "zone"}, {"from", "to"})
_SERVICE = ({"code", "name", "transit_days", "rates"}, {"surcharges"})
_RATE = ({"zone", "breaks"}, {"per_kg_over_last"})
_BREAK = ({"max_kg", "price"}, set())
_SURCHARGES = (set(), {"fuel_pct", "residential", "remote_areas", "oversize"})
_REMOTE = ({"country", "fee"}, {"from", "to"})
_OVERSIZE = ({"longest_side_cm", "fee"}, set())


@lru_cache(maxsize=1)
def _countries() -> frozenset[str]:
    return frozenset(c.alpha_2 for c in pycountry.countries)


def _at(path: str, key: str | int) -> str:
    if isinstance(key, int):
        return f"{path}[{key}]"
    return f"{path}.{key}" if path else key


@dataclass(frozen=True, slots=True)
class _Band:
    path: str
    start: str | None  # None: the whole country
    end: str | None
    value: object


class _Reader:
    """Reads the JSON document field by field, collecting every problem with its path."""

    def __init__(self) -> None:
        self.errors = ErrorList()

    def add(self, path: str, code: str, message: str) -> None:
        self.errors.add(path or "rate_table", code, message)

    def record(self, value, path: str, fields: tuple[set[str], set[str]]) -> dict | None:
        required, optional = fields
        if not isinstance(value, dict):
            self.add(path, "invalid", f"{path or 'the rate table'} must be an object")
            return None
        missing = required - value.keys()
        unknown = value.keys() - required - optional
        for key in sorted(missing):
            self.add(_at(path, key), "missing", f"{_at(path, key)} is missing")
        for key in sorted(unknown, key=str):
            self.add(_at(path, str(key)), "unknown_field", f"{_at(path, str(key))} is not a field of the rate table format")
        return value

    def array(self, rec: dict, key: str, path: str, *, non_empty: bool = True) -> list:
        if key not in rec:
            return []
        value, where = rec[key], _at(path, key)
        if not isinstance(value, list):
            self.add(where, "invalid", f"{where} must be a list")
            return []
        if non_empty and not value:
            self.add(where, "empty", f"{where} must have at least one entry")
        return value

    def text(self, rec: dict, key: str, path: str) -> str | None:
        if key not in rec:
            return None
        value, where = rec[key], _at(path, key)
        if not isinstance(value, str) or not value.strip():
            self.add(where, "invalid", f"{where} must be a non-empty text")
            return None
        return value.strip()

    def country(self, rec: dict, key: str, path: str) -> str | None:
        value = self.text(rec, key, path)
        if value is None:
            return None
        if value.upper() not in _countries():
            self.add(_at(path, key), "unknown_country", f"{_at(path, key)}: {value!r} is not an ISO 3166 country code")
            return None
        return value.upper()

    def number(self, rec: dict, key: str, path: str, *, positive: bool = False) -> Decimal | None:
        """A decimal, written as a JSON number or a string; negative never, zero only if not `positive`."""
        if key not in rec:
            return None
        value, where = rec[key], _at(path, key)
        d = _decimal(value)
        if d is None:
            self.add(where, "invalid", f"{where} must be a number, got {value!r}")
        elif d < 0:
            self.add(where, "negative", f"{where} must not be negative, got {d}")
        elif positive and d == 0:
            self.add(where, "not_positive", f"{where} must be more than 0")
        else:
            return d
        return None

    def count(self, value, where: str) -> int | None:
        """A whole number >= 0 (zones, days)."""
        if isinstance(value, str) and value.isdigit():
            value = int(value)
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            self.add(where, "invalid", f"{where} must be a whole number of 0 or more, got {value!r}")
            return None
        return value


def _decimal(value) -> Decimal | None:
    if isinstance(value, bool) or not isinstance(value, (int, float, str, Decimal)):
        return None
    try:
        # A JSON number read as float goes through its shortest repr, i.e. the digits as written.
        d = Decimal(repr(value)) if isinstance(value, float) else Decimal(value)
    except InvalidOperation:
        return None
    return d if d.is_finite() else None


def parse_rate_table(data: dict) -> RateTable:
    """Check a carrier's rate table document and build its lookup structures.

    Raises ValidationFailed listing every problem with its field path (e.g. `zones[3].to`,
    `services[1].rates[2].breaks[4].max_kg`); nothing is returned, so nothing can be stored or used.
    """
    r = _Reader()
    doc = r.record(data, "", _TABLE)
    if doc is None:
        r.errors.raise_if_any()
    carrier = r.text(doc, "carrier", "")
    currency = r.text(doc, "currency", "")
    if currency is not None and currency not in known_currencies():
        r.add("currency", "unknown_currency", f"currency: {currency!r} is not an ISO 4217 currency code")
    origin_country = r.country(doc, "origin_country", "")
    dim_divisor = r.number(doc, "dim_divisor", "", positive=True)
    zones = _parse_zones(r, doc)
    table_surcharges = _parse_surcharges(r, doc.get("surcharges"), "surcharges", Surcharges()) \
        if "surcharges" in doc else Surcharges()
    services = _parse_services(r, doc, table_surcharges)
    r.errors.raise_if_any("The rate table is not valid")
    origin_lengths = tuple(sorted({len(o) for o in zones if o != ANY_ORIGIN}, reverse=True))
    return RateTable(carrier, currency, origin_country, dim_divisor, services, zones, origin_lengths)


def _parse_zones(r: _Reader, doc: dict) -> dict[str, dict[str, Bands]]:
    groups: dict[tuple[str, str], list[_Band]] = {}
    for i, entry in enumerate(r.array(doc, "zones", "")):
        path = _at("zones", i)
        rec = r.record(entry, path, _ZONE)
        if rec is None:
            continue
        origin = r.text(rec, "origin", path)
        origin = origin if origin == ANY_ORIGIN or origin is None else normalize_postal(origin)
        country = r.country(rec, "country", path)
        zone = r.count(rec["zone"], _at(path, "zone")) if "zone" in rec else None
        span = _span(r, rec, path)
        if None not in (origin, country, zone) and span is not None:
            groups.setdefault((origin, country), []).append(_Band(path, span[0], span[1], zone))
    out: dict[str, dict[str, Bands]] = {}
    for (origin, country), entries in groups.items():
        bands = _bands(r, entries, f"from origin {origin} to {country}")
        if bands is not None:
            out.setdefault(origin, {})[country] = bands
    return out


def _span(r: _Reader, rec: dict, path: str) -> tuple[str | None, str | None] | None:
    """The entry's postal range (`from`, `to`), (None, None) for the whole country, None if invalid."""
    if "from" not in rec and "to" not in rec:
        return None, None
    for key, other in (("from", "to"), ("to", "from")):
        if key not in rec:
            r.add(_at(path, key), "missing", f"{_at(path, key)} is missing: give both `from` and `to`, or neither")
            return None
    start, end = r.text(rec, "from", path), r.text(rec, "to", path)
    if start is None or end is None:
        return None
    start, end = normalize_postal(start), normalize_postal(end)
    if len(start) != len(end):
        r.add(_at(path, "to"), "invalid", f"{_at(path, 'to')}: {end!r} must have as many characters as `from` {start!r}")
        return None
    if end < start:
        r.add(_at(path, "to"), "invalid", f"{_at(path, 'to')}: {end!r} comes before `from` {start!r}")
        return None
    return start, end


def _bands(r: _Reader, entries: list[_Band], label: str) -> Bands | None:
    """Sorted bands of one group; refuses overlaps and bands of different lengths."""
    wholes = [e for e in entries if e.start is None]
    ranged = [e for e in entries if e.start is not None]
    ok = True
    if wholes:
        for e in wholes[1:] + ranged:
            r.add(e.path, "overlap", f"{e.path} overlaps {wholes[0].path}, which covers the whole country {label}")
        if len(entries) == 1:
            return Bands(0, (), (), (), wholes[0].value)
        return None
    length = len(ranged[0].start)
    for e in ranged[1:]:
        if len(e.start) != length:
            r.add(_at(e.path, "from"), "invalid",
                  f"{_at(e.path, 'from')}: {e.start!r} must have {length} characters like {ranged[0].path} ({label})")
            ok = False
    if not ok:
        return None
    ranged.sort(key=lambda e: (e.start, e.end))
    reach = ranged[0]  # the band reaching furthest so far
    for e in ranged[1:]:
        if e.start <= reach.end:
            r.add(_at(e.path, "from"), "overlap",
                  f"{e.path} ({e.start}-{e.end}) overlaps {reach.path} ({reach.start}-{reach.end}) {label}")
            ok = False
        if e.end > reach.end:
            reach = e
    if not ok:
        return None
    return Bands(length, tuple(e.start for e in ranged), tuple(e.end for e in ranged), tuple(e.value for e in ranged))


def _parse_surcharges(r: _Reader, value, path: str, base: Surcharges) -> Surcharges:
    """Surcharges at `path`; keys that are absent keep their value in `base` (the table's)."""
    rec = r.record(value, path, _SURCHARGES)
    if rec is None:
        return base
    fuel = r.number(rec, "fuel_pct", path)
    residential = r.number(rec, "residential", path)
    remote = _parse_remote(r, rec, path) if "remote_areas" in rec else base.remote_areas
    oversize_cm, oversize_fee = base.oversize_cm, base.oversize_fee
    if "oversize" in rec:
        where = _at(path, "oversize")
        over = r.record(rec["oversize"], where, _OVERSIZE)
        if over is not None:
            oversize_cm = r.number(over, "longest_side_cm", where, positive=True)
            oversize_fee = r.number(over, "fee", where) or ZERO
    return Surcharges(
        fuel_pct=base.fuel_pct if fuel is None else fuel,
        residential=base.residential if residential is None else residential,
        remote_areas=remote,
        oversize_cm=oversize_cm,
        oversize_fee=oversize_fee,
    )


def _parse_remote(r: _Reader, rec: dict, path: str) -> dict[str, Bands]:
    groups: dict[str, list[_Band]] = {}
    for i, entry in enumerate(r.array(rec, "remote_areas", path, non_empty=False)):
        where = _at(_at(path, "remote_areas"), i)
        area = r.record(entry, where, _REMOTE)
        if area is None:
            continue
        country = r.country(area, "country", where)
        fee = r.number(area, "fee", where)
        span = _span(r, area, where)
        if None not in (country, fee) and span is not None:
            groups.setdefault(country, []).append(_Band(where, span[0], span[1], fee))
    out = {}
    for country, entries in groups.items():
        bands = _bands(r, entries, f"in {country}")
        if bands is not None:
            out[country] = bands
    return out


def _parse_services(r: _Reader, doc: dict, table_surcharges: Surcharges) -> tuple[Service, ...]:
    services: list[Service] = []
    first_with_code: dict[str, str] = {}
    for i, entry in enumerate(r.array(doc, "services", "")):
        path = _at("services", i)
        rec = r.record(entry, path, _SERVICE)
        if rec is None:
            continue
        code, name = r.text(rec, "code", path), r.text(rec, "name", path)
        if code is not None:
            if code in first_with_code:
                r.add(_at(path, "code"), "duplicate",
                      f"{_at(path, 'code')}: service {code!r} is already defined by {first_with_code[code]}")
            else:
                first_with_code[code] = path
        transit = _parse_transit(r, rec, path)
        rates = _parse_rates(r, rec, path)
        _check_zones_match(r, path, transit, rates)
        surcharges = (_parse_surcharges(r, rec["surcharges"], _at(path, "surcharges"), table_surcharges)
                      if "surcharges" in rec else table_surcharges)
        services.append(Service(code, name, transit, {z: w for z, (_, w) in rates.items()}, surcharges))
    return tuple(services)


def _parse_transit(r: _Reader, rec: dict, path: str) -> dict[int, int]:
    where = _at(path, "transit_days")
    value = rec.get("transit_days", {})
    if not isinstance(value, dict):
        r.add(where, "invalid", f"{where} must be an object of zone -> business days")
        return {}
    out: dict[int, int] = {}
    for key, days in value.items():
        zone = r.count(key, f"{where}.{key}")
        n = r.count(days, f"{where}.{key}")
        if zone is not None and n is not None:
            out[zone] = n
    return out


def _parse_rates(r: _Reader, rec: dict, path: str) -> dict[int, tuple[str, WeightRate | None]]:
    """zone -> (the path of its entry, its prices, or None when they are not valid)."""
    out: dict[int, tuple[str, WeightRate | None]] = {}
    for j, entry in enumerate(r.array(rec, "rates", path)):
        where = _at(_at(path, "rates"), j)
        rate = r.record(entry, where, _RATE)
        if rate is None:
            continue
        zone = r.count(rate["zone"], _at(where, "zone")) if "zone" in rate else None
        weights = _parse_breaks(r, rate, where)
        over = r.number(rate, "per_kg_over_last", where)
        if zone is not None and zone in out:
            r.add(_at(where, "zone"), "duplicate", f"{_at(where, 'zone')}: zone {zone} is already priced by {out[zone][0]}")
        elif zone is not None:
            out[zone] = (where, WeightRate(weights[0], weights[1], over) if weights else None)
    return out


def _parse_breaks(r: _Reader, rate: dict, path: str) -> tuple[tuple[Decimal, ...], tuple[Decimal, ...]] | None:
    where = _at(path, "breaks")
    if "breaks" in rate and rate["breaks"] == []:
        r.add(where, "no_price", f"{where} is empty: the zone has no price")
        return None
    maxes: list[Decimal] = []
    prices: list[Decimal] = []
    ok = "breaks" in rate
    for k, entry in enumerate(r.array(rate, "breaks", path)):
        at = _at(where, k)
        brk = r.record(entry, at, _BREAK)
        if brk is None:
            ok = False
            continue
        max_kg = r.number(brk, "max_kg", at, positive=True)
        price = r.number(brk, "price", at)
        if max_kg is not None and maxes and max_kg <= maxes[-1]:
            r.add(_at(at, "max_kg"), "not_increasing",
                  f"{_at(at, 'max_kg')}: {max_kg} kg must be more than the previous break's {maxes[-1]} kg")
            ok = False
        if max_kg is None or price is None:
            ok = False
        if max_kg is not None:
            maxes.append(max_kg)
        prices.append(price)
    return (tuple(maxes), tuple(prices)) if ok and maxes else None


def _check_zones_match(r: _Reader, path: str, transit: dict[int, int], rates: dict) -> None:
    """A zone with transit days must have a price, and a priced zone transit days (to date a delivery)."""
    for zone in sorted(transit.keys() - rates.keys()):
        where = f"{_at(path, 'transit_days')}.{zone}"
        r.add(where, "no_price", f"{where}: zone {zone} has transit days but no price in {_at(path, 'rates')}")
    for zone in sorted(rates.keys() - transit.keys()):
        where = _at(rates[zone][0], "zone")
        r.add(where, "no_transit_days", f"{where}: zone {zone} has a price but no transit days in {_at(path, 'transit_days')}")


# ---------------------------------------------------------------------------------------------------
# Quoting


def billable_weight(parcel: Parcel, dim_divisor: Decimal) -> Decimal:
    """max(actual, L x W x H / divisor), rounded up to the next 0.5 kg, as carriers bill."""
    dim = parcel.length_cm * parcel.width_cm * parcel.height_cm / dim_divisor
    kg = parcel.weight_kg if parcel.weight_kg >= dim else dim
    return (kg / WEIGHT_STEP_KG).to_integral_value(rounding=ROUND_CEILING) * WEIGHT_STEP_KG


def add_business_days(start: date, days: int, holidays: Set[date] = _NO_HOLIDAYS) -> date:
    """The date `days` business days (Mon-Fri, not a holiday) after `start`.

    A parcel handed over on a weekend or holiday leaves on the next business day, and the count starts
    from there: Friday + 1 is Monday, and so is Saturday + 0.
    """
    d = start
    while d.weekday() >= 5 or d in holidays:
        d += _DAY
    for _ in range(days):
        d += _DAY
        while d.weekday() >= 5 or d in holidays:
            d += _DAY
    return d


def _check_parcels(parcels: Sequence[Parcel]) -> None:
    errors = ErrorList()
    if not parcels:
        errors.add("parcels", "empty", "at least one parcel is needed for a quote")
    for i, p in enumerate(parcels):
        if not p.weight_kg > 0:
            errors.add(f"parcels[{i}].weight_kg", "not_positive", f"parcels[{i}].weight_kg must be more than 0")
        for name in ("length_cm", "width_cm", "height_cm"):
            if getattr(p, name) < 0:
                errors.add(f"parcels[{i}].{name}", "negative", f"parcels[{i}].{name} must not be negative")
    errors.raise_if_any("The parcels are not valid")


@dataclass(slots=True)
class _Shipment:
    """One shipment's facts, normalised once and shared by every service quoted for it."""

    origin_country: str
    origin_postal: str
    country: str
    postal: str
    parcels: Sequence[Parcel]
    ship_date: date
    residential: bool
    holidays: Set[date]
    longest: tuple[Decimal, ...]
    delivery: dict[int, date]  # transit days -> delivery date

    @classmethod
    def of(cls, origin: Place, dest: Place, parcels: Sequence[Parcel], ship_date: date,
           residential: bool, holidays: Set[date]) -> _Shipment:
        _check_parcels(parcels)
        return cls(origin.country.upper(), normalize_postal(origin.postal_code), dest.country.upper(),
                   normalize_postal(dest.postal_code), parcels, ship_date, residential, holidays,
                   tuple(max(p.length_cm, p.width_cm, p.height_cm) for p in parcels), {})

    def delivery_date(self, days: int) -> date:
        d = self.delivery.get(days)
        if d is None:
            d = self.delivery[days] = add_business_days(self.ship_date, days, self.holidays)
        return d


def _price(table: RateTable, service: Service, zone: int, kgs: tuple[Decimal, ...], s: _Shipment,
           zero: Decimal) -> Quote | None:
    """One service's quote; `zero` is 0 in the currency's minor units (0.00), shared by the parts not charged."""
    rate = service.rates.get(zone)
    if rate is None:
        return None  # the service does not go to this zone
    base = ZERO
    for kg in kgs:
        price = rate.price(kg)
        if price is None:
            return None  # a parcel is over the service's weight limit
        base += price
    cur = table.currency
    sur = service.surcharges
    n = len(kgs)
    base = round_money(base, cur)
    fuel = round_money(base * sur.fuel_pct / HUNDRED, cur) if sur.fuel_pct else zero
    residential = round_money(sur.residential * n, cur) if s.residential and sur.residential else zero
    remote_fee = sur.remote_fee(s.country, s.postal) if sur.remote_areas else ZERO
    remote = round_money(remote_fee * n, cur) if remote_fee else zero
    oversize = zero
    if sur.oversize_cm is not None and sur.oversize_fee:
        over = sum(1 for side in s.longest if side > sur.oversize_cm)
        oversize = round_money(sur.oversize_fee * over, cur) if over else zero
    days = service.transit_days[zone]
    return Quote(table.carrier, service.code, service.name, zone, cur, sum(kgs, ZERO),
                 Breakdown(base, fuel, residential, remote, oversize),
                 base + fuel + residential + remote + oversize, days, s.delivery_date(days))


def _table_quotes(table: RateTable, s: _Shipment, only: Service | None = None) -> list[Quote]:
    zone = table._zone(s.origin_country, s.origin_postal, s.country, s.postal)
    if zone is None:
        return []
    kgs = tuple(billable_weight(p, table.dim_divisor) for p in s.parcels)
    zero = round_money(ZERO, table.currency)
    out = []
    for service in (only,) if only else table.services:
        q = _price(table, service, zone, kgs, s, zero)
        if q is not None:
            out.append(q)
    return out


def quote(table: RateTable, service_code: str, origin: Place, dest: Place, parcels: Sequence[Parcel],
          ship_date: date, residential: bool = False, *, holidays: Set[date] = _NO_HOLIDAYS) -> Quote | None:
    """The price and delivery date of one service for these parcels.

    None when no zone of the table covers origin -> destination, when the service does not serve that
    zone, or when a parcel is over the service's weight limit.
    """
    service = table.service(service_code)
    if service is None:
        raise ValidationFailed.one("service", "unknown", f"carrier {table.carrier} has no service {service_code!r}")
    found = _table_quotes(table, _Shipment.of(origin, dest, parcels, ship_date, residential, holidays), service)
    return found[0] if found else None


def quotes(tables: Iterable[RateTable], origin: Place, dest: Place, parcels: Sequence[Parcel], ship_date: date,
           residential: bool = False, *, holidays: Set[date] = _NO_HOLIDAYS) -> list[Quote]:
    """Every service of every table that can carry these parcels, in table and service order."""
    s = _Shipment.of(origin, dest, parcels, ship_date, residential, holidays)
    out: list[Quote] = []
    for table in tables:
        out.extend(_table_quotes(table, s))
    return out


def estimate(tables: Iterable[RateTable], origin: Place, dest: Place, weight_kg: Decimal, ship_date: date,
             *, holidays: Set[date] = _NO_HOLIDAYS) -> tuple[Decimal, int] | None:
    """The cheapest cost, and its transit days, of one parcel of `weight_kg` (dimensions not known, so
    billed on weight; not residential). None when no service goes there. Ties go to the faster one."""
    found = quotes(tables, origin, dest, [Parcel(weight_kg, ZERO, ZERO, ZERO)], ship_date, holidays=holidays)
    if not found:
        return None
    _one_currency(found)
    best = min(found, key=lambda q: (q.total, q.transit_days))
    return best.total, best.transit_days


# ---------------------------------------------------------------------------------------------------
# Rate shopping


def on_time_probability(on_time: int, delivered: int) -> Decimal:
    """The posterior mean of the on-time rate under the Beta(9, 1) prior: (on_time + 9) / (delivered + 10)."""
    return Decimal(on_time + PRIOR_ON_TIME) / Decimal(delivered + PRIOR_ON_TIME + PRIOR_LATE)


def _one_currency(found: Sequence[Quote]) -> None:
    currencies = sorted({q.currency for q in found})
    if len(currencies) > 1:
        raise ValidationFailed.one(
            "quotes", "mixed_currencies",
            f"quotes in {', '.join(currencies)} cannot be compared: the rate tables must use one currency",
        )


def _history(history: Mapping[tuple[str, str], tuple[int, int]], q: Quote) -> Decimal:
    on_time, delivered = history.get((q.carrier, q.service), (0, 0))
    if not 0 <= on_time <= delivered:
        raise ValidationFailed.one(
            f"history[{q.carrier},{q.service}]", "invalid",
            f"history of {q.carrier} {q.service}: {on_time} on time of {delivered} delivered is not possible",
        )
    return on_time_probability(on_time, delivered)


def _days(n: int) -> str:
    return f"{n} day" if n == 1 else f"{n} days"


def _pct(p: Decimal) -> str:
    return f"{(p * HUNDRED).quantize(ONE)}%"


@dataclass(slots=True)
class _Scored:
    quote: Quote
    p: Decimal
    risk: Decimal
    late: int

    def rank(self) -> tuple:
        q = self.quote
        return self.risk, q.total, q.delivery_date, q.carrier, q.service


def shop(quotes: Sequence[Quote], promise_date: date | None,
         history: Mapping[tuple[str, str], tuple[int, int]], late_cost: Decimal) -> Choice:
    """Choose the quote with the lowest risk-weighted cost among those meeting the promise date.

    risk-weighted cost = total + late_cost x (1 - p_on_time), p_on_time estimated from `history`
    ((carrier, service) -> (delivered on time, delivered)) with the Beta(9, 1) prior. Without a promise
    date every quote meets it. When none meets it, the earliest delivery is chosen (lowest risk-weighted
    cost among the quotes arriving that day) and the promise is flagged at risk.
    """
    if late_cost < 0:
        raise ValidationFailed.one("late_cost", "negative", "late_cost must not be negative")
    if not quotes:
        return Choice(None, promise_date, False, ())
    _one_currency(quotes)
    scored = []
    for q in quotes:
        p = _history(history, q)
        late = 0 if promise_date is None else max(0, (q.delivery_date - promise_date).days)
        scored.append(_Scored(q, p, round_money(q.total + late_cost * (ONE - p), q.currency), late))
    on_time = [s for s in scored if s.late == 0]
    at_risk = not on_time
    if at_risk:
        earliest = min(s.quote.delivery_date for s in scored)
        best = min((s for s in scored if s.quote.delivery_date == earliest), key=_Scored.rank)
    else:
        best = min(on_time, key=_Scored.rank)
    cheapest = min(s.quote.total for s in on_time) if on_time else None
    ordered = sorted(scored, key=lambda s: (s is not best, s.late, s.rank()))
    candidates = tuple(
        Candidate(s.quote, s.p.quantize(Decimal("0.0001")), s.risk, s.late, s is best,
                  _reason(s, best, cheapest, promise_date is not None))
        for s in ordered
    )
    return Choice(best.quote, promise_date, at_risk, candidates)


def _reason(s: _Scored, best: _Scored, cheapest_on_time: Decimal | None, promised: bool) -> str:
    q, cur = s.quote, s.quote.currency
    on_time = " on time" if promised else ""
    if s is best:
        if s.late:
            return (f"earliest delivery ({q.delivery_date.isoformat()}), yet misses the promise by {_days(s.late)}; "
                    f"lowest risk-weighted cost of that day ({s.risk} {cur})")
        if q.total == cheapest_on_time:
            return f"cheapest{on_time} ({q.total} {cur}, {_pct(s.p)} on time)"
        return (f"lowest risk-weighted cost{on_time}: {s.risk} {cur} for {q.total} {cur} at {_pct(s.p)} on time")
    if s.late:
        same_day = q.delivery_date == best.quote.delivery_date
        return f"misses the promise by {_days(s.late)}" + (
            f"; arrives with the chosen one but risk-weighted {s.risk} {cur} against {best.risk} {cur}" if same_day else "")
    if q.total < best.quote.total:
        return (f"cheaper by {best.quote.total - q.total} {cur} but {_pct(s.p)} on time against {_pct(best.p)}: "
                f"risk-weighted {s.risk} {cur} against {best.risk} {cur}")
    if s.risk == best.risk:
        return f"same risk-weighted cost as the chosen one ({s.risk} {cur}), which is cheaper or earlier"
    return f"risk-weighted {s.risk} {cur}, {s.risk - best.risk} {cur} more than the chosen one"
