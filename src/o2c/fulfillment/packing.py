"""Packing, pure: scan verification, box suggestion and the weight check of a packed parcel.

Scanning. Every item going into a parcel is scanned. A keyboard-wedge scanner types whatever the label
holds: a GTIN (EAN-8, UPC-A, EAN-13 or GTIN-14), a GS1-128 element string carrying the GTIN in
application identifier 01 ("(01)04006381333931", or the same digits without brackets), or a plain SKU
label. `normalise_barcode` turns each GTIN form into its 14-digit GTIN, so one product is found whichever
label is scanned. A scan is refused, leaving the session as it was, when the barcode is unreadable
(`invalid_barcode`), belongs to no product (`unknown_barcode`), is a product this shipment does not hold
(`wrong_item`), or would pack more than was picked (`extra_item`). Closing the parcel while something is
still short is refused (`missing_item`) with every short SKU named.

Boxes. An item fits a box when, turned the best way, each of its sides fits: its sides sorted fit the
box's inner sides sorted. A box takes a set of items when each item fits, their volume fills no more
than `fill_factor` of the box (room for the awkward shapes and the padding; a single unit only needs
to fit by its sides), and items plus the empty box weigh no more than the box may carry. Dimensions
are in centimetres, weights in kilograms.

Weight check. The parcel is weighed and compared with the expected weight (items plus the box). See
`qc_check` for the tolerance.
"""
from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from decimal import ROUND_HALF_UP, Decimal
from typing import NamedTuple

from stdnum import ean, gs1_128
from stdnum.exceptions import ValidationError

from o2c.core.errors import ErrorList, FieldError, ValidationFailed
from o2c.core.money import ZERO, plain

GRAM = Decimal("0.001")
TENTH = Decimal("0.1")

# Barcodes

GTIN_LENGTHS = (8, 12, 13, 14)
_AIM = re.compile(r"^\][A-Za-z][0-9A-Za-z]")  # symbology identifier some scanners send first (]C1, ]E0)
_GS = "\x1d"  # the FNC1 separator between variable-length GS1 fields, as scanners type it
_LEADING_GTIN = re.compile(r"^(?:\(01\)|01)(\d{14})")  # AI 01 first (the usual label): 14 digits


class ScanRefused(ValidationFailed):
    """A scan, or the closing of a parcel, that was refused; `code` says why."""

    def __init__(self, code: str, message: str, field: str = "barcode", errors: list[FieldError] | None = None):
        super().__init__(message, errors or [FieldError(field, code, message)])
        self.code = code


def normalise_barcode(raw: str) -> str:
    """The 14-digit GTIN a scanned GTIN or GS1-128 string carries, or the text itself (a SKU label).

    Raises `ScanRefused` (invalid_barcode) for an empty scan, a GTIN whose check digit is wrong
    (usually a misread), or a GS1-128 string that cannot be read or carries no GTIN.
    """
    text = _AIM.sub("", (raw or "").strip())
    if not text:
        raise ScanRefused("invalid_barcode", "the scan is empty: scan the item again")
    if text.isdigit() and len(text) in GTIN_LENGTHS:
        return _gtin14(text)
    if text.startswith("(") or _GS in text or _LEADING_GTIN.match(text):
        return _gs1_gtin(text)
    return text


def _gtin14(digits: str) -> str:
    if not ean.is_valid(digits):
        should = ean.calc_check_digit(digits[:-1])
        raise ScanRefused(
            "invalid_barcode",
            f"barcode {digits} is not a valid GTIN: its check digit should be {should}, not {digits[-1]}"
            " (probably a misread): scan it again",
        )
    return digits.zfill(14)


def _gs1_gtin(text: str) -> str:
    leading = _LEADING_GTIN.match(text)
    if leading:  # the GTIN alone matters here; checked by us to say which digit is wrong
        return _gtin14(leading.group(1))
    try:
        fields = gs1_128.info(text, separator=_GS)
    except ValidationError as exc:
        raise ScanRefused("invalid_barcode", f"barcode {text} is not a readable GS1-128 code: {exc}") from None
    if "01" not in fields:
        raise ScanRefused("invalid_barcode", f"barcode {text} carries no GTIN (application identifier 01)")
    return _gtin14(str(fields["01"]))


def barcode_map(gtins: Mapping[str, Sequence[str]]) -> dict[str, str]:
    """The barcodes of each product, normalised, mapped to its SKU: `gtins` maps a SKU to its GTINs (any
    length). Every SKU also maps to itself, for SKU labels. Refuses an invalid GTIN and a GTIN given to
    two SKUs, naming the SKU."""
    errors = ErrorList()
    out: dict[str, str] = {sku: sku for sku in gtins}
    for sku, codes in gtins.items():
        at = f"gtins[{sku}]"
        for code in codes:
            digits = code.strip()
            if not (digits.isdigit() and len(digits) in GTIN_LENGTHS):
                errors.add(at, "invalid_gtin", f"{at}: {code!r} is not a GTIN (8, 12, 13 or 14 digits)")
                continue
            try:
                key = _gtin14(digits)
            except ScanRefused as exc:
                errors.add(at, "invalid_gtin", f"{at}: {exc.detail}")
                continue
            if out.get(key, sku) != sku:
                errors.add(at, "duplicate_gtin", f"{at}: GTIN {code} already belongs to SKU {out[key]}")
            else:
                out[key] = sku
    errors.raise_if_any("some product barcodes are not valid")
    return out


# Scanning a shipment into a parcel


@dataclass(frozen=True)
class PackSession:
    """What is being packed: `expected` quantity per SKU (what was picked for the shipment), `barcodes`
    (normalised barcode or SKU -> SKU, see `barcode_map`) and `scanned` quantity per SKU so far."""

    expected: Mapping[str, Decimal]
    barcodes: Mapping[str, str]
    scanned: Mapping[str, Decimal] = field(default_factory=dict)


@dataclass(frozen=True)
class ScanOutcome:
    session: PackSession  # the session with this scan counted
    sku: str
    quantity: Decimal
    packed: Decimal  # of this SKU, now
    expected: Decimal

    @property
    def sku_complete(self) -> bool:
        return self.packed == self.expected

    @property
    def all_packed(self) -> bool:
        return not missing(self.session)


def start_packing(expected: Mapping[str, Decimal], barcodes: Mapping[str, str]) -> PackSession:
    errors = ErrorList()
    for sku, q in expected.items():
        if q <= 0:
            errors.add(f"expected[{sku}]", "not_positive", f"expected quantity of {sku} must be more than 0")
    errors.raise_if_any()
    return PackSession(dict(expected), dict(barcodes), {})


def _sku_for(session: PackSession, barcode: str) -> str:
    text = (barcode or "").strip()
    if text in session.barcodes:  # a SKU label, as typed (also a SKU that happens to be all digits)
        return session.barcodes[text]
    key = normalise_barcode(text)
    if key not in session.barcodes:
        raise ScanRefused("unknown_barcode", f"barcode {text} is not a known product")
    return session.barcodes[key]


def scan(session: PackSession, barcode: str, quantity: Decimal | int = 1) -> ScanOutcome:
    """Count one scan (of `quantity` units, 1 by default); raises `ScanRefused` and counts nothing when the
    scan is refused."""
    quantity = Decimal(quantity)
    if quantity <= 0:
        raise ScanRefused("not_positive", f"quantity must be more than 0 (got {plain(quantity)})", "quantity")
    sku = _sku_for(session, barcode)
    expected = session.expected.get(sku, ZERO)
    if expected <= 0:
        raise ScanRefused("wrong_item", f"SKU {sku} is not in this shipment: take it out of the parcel")
    done = session.scanned.get(sku, ZERO)
    if done + quantity > expected:
        if done >= expected:
            message = f"SKU {sku}: all {plain(expected)} already packed: take the extra one out"
        else:
            message = (f"SKU {sku}: only {plain(expected - done)} more to pack ({plain(done)} of"
                       f" {plain(expected)} packed), not {plain(quantity)}")
        raise ScanRefused("extra_item", message)
    scanned = {**session.scanned, sku: done + quantity}
    return ScanOutcome(replace(session, scanned=scanned), sku, quantity, done + quantity, expected)


def missing(session: PackSession) -> dict[str, Decimal]:
    """Quantity still to pack per SKU (SKUs fully packed left out)."""
    out = {}
    for sku, q in session.expected.items():
        short = q - session.scanned.get(sku, ZERO)
        if short > 0:
            out[sku] = short
    return out


def close_check(session: PackSession) -> None:
    """Refuse to close the parcel while anything is missing, naming every short SKU."""
    short = missing(session)
    if not short:
        return
    errors = [
        FieldError(f"expected[{sku}]", "missing_item",
                   f"SKU {sku}: {plain(q)} missing ({plain(session.scanned.get(sku, ZERO))} of"
                   f" {plain(session.expected[sku])} packed)")
        for sku, q in short.items()
    ]
    detail = "not everything is packed: " + "; ".join(e.message for e in errors)
    raise ScanRefused("missing_item", detail, errors=errors)


# Boxes


@dataclass(frozen=True)
class Box:
    code: str
    inner_length_cm: Decimal
    inner_width_cm: Decimal
    inner_height_cm: Decimal
    max_weight_kg: Decimal  # what the box may hold, itself included
    tare_kg: Decimal

    @property
    def sides(self) -> tuple[Decimal, ...]:
        return tuple(sorted((self.inner_length_cm, self.inner_width_cm, self.inner_height_cm)))

    @property
    def volume_cm3(self) -> Decimal:
        return self.inner_length_cm * self.inner_width_cm * self.inner_height_cm


class PackItem(NamedTuple):
    """`quantity` units of one item; a plain (dims, weight, quantity) tuple works too. `ref` is the
    caller's, handed back by `split_into_boxes`."""

    dims_cm: tuple[Decimal, Decimal, Decimal]
    weight_kg: Decimal
    quantity: Decimal | int
    ref: object = None

    @property
    def volume_cm3(self) -> Decimal:
        length, width, height = self.dims_cm
        return length * width * height


def _items(items: Sequence, whole_units: bool = False) -> list[PackItem]:
    """The items as PackItems, refusing what cannot be packed, naming the item."""
    errors = ErrorList()
    out = []
    for i, raw in enumerate(items):
        it = PackItem(*raw)
        at = f"items[{i}]"
        if len(it.dims_cm) != 3 or any(d <= 0 for d in it.dims_cm):
            errors.add(f"{at}.dims_cm", "invalid", f"{at}.dims_cm must be three lengths above 0 (cm)")
        if it.weight_kg < 0:
            errors.add(f"{at}.weight_kg", "invalid", f"{at}.weight_kg must not be negative")
        if it.quantity <= 0 or (whole_units and Decimal(it.quantity) % 1):
            errors.add(f"{at}.quantity", "invalid", f"{at}.quantity must be a whole number above 0")
        out.append(it)
    if not items:
        errors.add("items", "empty", "there is nothing to pack")
    errors.raise_if_any("some items cannot be packed")
    return out


def _fits(it: PackItem, box: Box) -> bool:
    """One unit fits by its sides, turned the best way, and by weight in the empty box."""
    return (all(s <= b for s, b in zip(sorted(it.dims_cm), box.sides))
            and it.weight_kg + box.tare_kg <= box.max_weight_kg)


def _takes(box: Box, items: Sequence[PackItem], fill_factor: Decimal) -> bool:
    volume = sum((it.volume_cm3 * it.quantity for it in items), ZERO)
    weight = sum((it.weight_kg * it.quantity for it in items), ZERO)
    single = sum((it.quantity for it in items), ZERO) <= 1  # one unit: fitting by its sides is enough
    return (all(_fits(it, box) for it in items)
            and (single or volume <= box.volume_cm3 * fill_factor)
            and weight + box.tare_kg <= box.max_weight_kg)


def _smallest_first(boxes: Sequence[Box]) -> list[Box]:
    return sorted(boxes, key=lambda b: (b.volume_cm3, b.tare_kg, b.code))


def suggest_box(items: Sequence, boxes: Sequence[Box], fill_factor: Decimal = Decimal("0.85")) -> Box | None:
    """The smallest box (by volume) that takes all the items, or None when none does (split the items
    over several parcels with `split_into_boxes`)."""
    its = _items(items)
    return next((b for b in _smallest_first(boxes) if _takes(b, its, fill_factor)), None)


@dataclass
class _Parcel:
    box: Box
    units: list[tuple[int, PackItem]] = field(default_factory=list)  # (item index, the item)
    volume: Decimal = ZERO
    weight: Decimal = ZERO


def split_into_boxes(
    items: Sequence, boxes: Sequence[Box], fill_factor: Decimal = Decimal("0.85"),
) -> list[tuple[Box, list[PackItem]]]:
    """Spread the items over parcels, first-fit decreasing by volume: the biggest unit first, each into
    the first open parcel that still takes it, else into a new parcel of the largest box that can hold
    it. Each parcel then gets the smallest box that takes its contents. Refuses, naming it, an item that
    fits in no box. Quantities must be whole units here."""
    its = _items(items, whole_units=True)
    errors = ErrorList()
    largest = _smallest_first(boxes)[::-1]
    for i, it in enumerate(its):
        if not any(_fits(it, b) for b in largest):
            dims = "×".join(plain(d) for d in it.dims_cm)
            errors.add(f"items[{i}]", "fits_no_box",
                       f"items[{i}] ({dims} cm, {plain(it.weight_kg)} kg) fits in no box, by size or weight")
    errors.raise_if_any("some items fit in no box")

    units = sorted(((i, it) for i, it in enumerate(its) for _ in range(int(it.quantity))),
                   key=lambda u: (-u[1].volume_cm3, -u[1].weight_kg, u[0]))
    parcels: list[_Parcel] = []
    for i, it in units:
        parcel = next((p for p in parcels if _room_for(p, it, fill_factor)), None)
        if parcel is None:
            parcel = _Parcel(next(b for b in largest if _fits(it, b)))
            parcels.append(parcel)
        parcel.units.append((i, it))
        parcel.volume += it.volume_cm3
        parcel.weight += it.weight_kg
    return [_packed(p, boxes, fill_factor) for p in parcels]


def _room_for(p: _Parcel, it: PackItem, fill_factor: Decimal) -> bool:
    return (_fits(it, p.box)
            and p.volume + it.volume_cm3 <= p.box.volume_cm3 * fill_factor
            and p.weight + it.weight_kg + p.box.tare_kg <= p.box.max_weight_kg)


def _packed(p: _Parcel, boxes: Sequence[Box], fill_factor: Decimal) -> tuple[Box, list[PackItem]]:
    """The parcel's contents as one PackItem per item, in the caller's order, in its smallest box."""
    counts: dict[int, int] = {}
    for i, _ in p.units:
        counts[i] = counts.get(i, 0) + 1
    by_index = dict(p.units)
    contents = [by_index[i]._replace(quantity=Decimal(n)) for i, n in sorted(counts.items())]
    # The box the parcel was opened with takes the contents, so a box is always found.
    return suggest_box(contents, boxes, fill_factor) or p.box, contents


# Weight check


def expected_weight(items: Sequence, box: Box) -> Decimal:
    """What the packed parcel should weigh: the items and the empty box."""
    return sum((it.weight_kg * it.quantity for it in _items(items)), ZERO) + box.tare_kg


@dataclass(frozen=True)
class QcResult:
    passed: bool  # False: hold the parcel for review
    difference_kg: Decimal  # weighed minus expected
    difference_pct: Decimal  # of the expected weight
    tolerance_kg: Decimal
    message: str


def qc_check(
    expected_kg: Decimal,
    weighed_kg: Decimal,
    tolerance_pct: Decimal = Decimal("5"),
    tolerance_min_kg: Decimal = Decimal("0.1"),
) -> QcResult:
    """Compare the weighed parcel with its expected weight; a difference beyond the tolerance, either way,
    holds the parcel (a missing or extra item, a wrong product).

    The tolerance is the larger of `tolerance_pct` of the expected weight and `tolerance_min_kg`. A
    percentage alone fails light parcels: 5% of 300 g is 15 g, less than a parcel scale's step and
    than the tape and padding vary by, so every light parcel would be held. A fixed amount alone fails
    heavy ones: 100 g is lost in the spread of a 30 kg parcel's packing but would hide a missing small
    item in a 1 kg one. The larger of the two keeps both in proportion.
    """
    errors = ErrorList()
    if expected_kg <= 0:
        errors.add("expected_kg", "not_positive", "expected_kg must be more than 0")
    if weighed_kg < 0:
        errors.add("weighed_kg", "negative", "weighed_kg must not be negative")
    if tolerance_pct < 0 or tolerance_min_kg < 0:
        errors.add("tolerance_pct", "negative", "the tolerances must not be negative")
    errors.raise_if_any()
    tolerance = max(expected_kg * tolerance_pct / 100, tolerance_min_kg).quantize(GRAM, ROUND_HALF_UP)
    diff = (weighed_kg - expected_kg).quantize(GRAM, ROUND_HALF_UP)
    pct = (100 * diff / expected_kg).quantize(TENTH, ROUND_HALF_UP)
    passed = abs(diff) <= tolerance
    sign = "+" if diff > 0 else ""
    said = (f"weighed {plain(weighed_kg)} kg, expected {plain(expected_kg)} kg:"
            f" {sign}{plain(diff)} kg ({sign}{plain(pct)}%)")
    if passed:
        message = f"{said}, within the {plain(tolerance)} kg tolerance"
    else:
        message = f"{said}, beyond the {plain(tolerance)} kg tolerance: hold the parcel for review"
    return QcResult(passed, diff, pct, tolerance, message)
