"""Pick lists, pure: bin codes, the warehouse's walking geometry, a short walking order, lists per picker.

Geometry (`Layout`, all distances in metres). The warehouse is a row of parallel walking aisles. A bin
code ZONE-AISLE-BAY-LEVEL (A-03-12-2) names a walking aisle, a bay along it (bays on either side of the
aisle share its numbers, counted from the front) and a shelf level. Zones sit one after another in
`Layout.zones` order, each with `aisles_per_zone` aisles `aisle_spacing_m` apart, centre to centre; a
main walkway `zone_gap_m` wide may separate two zones. Every aisle has `bays_per_aisle` bays of
`bay_width_m` and is open at both ends onto a front and a back cross-aisle that run the whole width of
the building; `end_m` is the walk from a cross-aisle's centre line to the first (or last) bay. The
picker stands in front of a bay's middle; levels cost nothing to walk (reaching up is not walking).
The depot, where a list starts and ends, is on the front cross-aisle at the first aisle of the first
zone.

Walking between two bins: along the aisle if they share one; otherwise out of the first aisle to the
cross-aisle (front or back) that makes the whole walk shortest, across, and into the second aisle.

Walking order: an S-shape (every aisle with a pick is walked end to end, the next one from the other
end) improved by 2-opt moves (reverse a stretch of the route when that shortens it), bounded by a number
of passes so the result is deterministic; the S-shape itself is returned if 2-opt found nothing shorter.
The optimisation runs on floats; every length reported is computed again in Decimal.
"""
from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal

from o2c.core.errors import ErrorList, ValidationFailed
from o2c.core.money import ZERO, plain

_BIN = re.compile(r"([A-Z]{1,3})-(\d{1,3})-(\d{1,3})-(\d{1,2})")
BIN_SHAPE = "ZONE-AISLE-BAY-LEVEL, like A-03-12-2 (zone letters, then aisle, bay and level numbers)"
METRE = Decimal("0.1")  # lengths are reported to the decimetre


@dataclass(frozen=True, order=True)
class Bin:
    zone: str
    aisle: int
    bay: int
    level: int

    def __str__(self) -> str:
        return f"{self.zone}-{self.aisle:02d}-{self.bay:02d}-{self.level}"


def parse_bin(code: str, field: str = "bin") -> Bin:
    """A bin from its code; spaces around it and lower-case zone letters are accepted."""
    m = _BIN.fullmatch(code.strip().upper()) if isinstance(code, str) else None
    if m is None:
        raise ValidationFailed.one(field, "invalid_bin", f"{field} {code!r} is not a bin code: expected {BIN_SHAPE}")
    zone, aisle, bay, level = m.group(1), int(m.group(2)), int(m.group(3)), int(m.group(4))
    if aisle < 1 or bay < 1:
        raise ValidationFailed.one(field, "invalid_bin", f"{field} {code!r}: aisles and bays are numbered from 1")
    return Bin(zone, aisle, bay, level)


@dataclass(frozen=True)
class Layout:
    """A parallel-aisle warehouse (see the module docs). Defaults: a small warehouse with shelving."""

    zones: tuple[str, ...] = ("A", "B")
    aisles_per_zone: int = 10
    bays_per_aisle: int = 20
    aisle_spacing_m: Decimal = Decimal("3.0")  # two 1 m racks and a 1 m aisle between them
    bay_width_m: Decimal = Decimal("1.0")
    end_m: Decimal = Decimal("1.5")  # half a cross-aisle plus the rack end
    zone_gap_m: Decimal = Decimal("0")

    @property
    def aisle_length_m(self) -> Decimal:
        """From the front cross-aisle's centre line to the back one's."""
        return 2 * self.end_m + self.bays_per_aisle * self.bay_width_m

    def problem(self, b: Bin) -> str | None:
        """Why the bin is not in this warehouse, or None."""
        if b.zone not in self.zones:
            return f"zone {b.zone} is not in this warehouse (zones {', '.join(self.zones)})"
        if b.aisle > self.aisles_per_zone:
            return f"aisle {b.aisle} is past the last aisle ({self.aisles_per_zone}) of zone {b.zone}"
        if b.bay > self.bays_per_aisle:
            return f"bay {b.bay} is past the last bay ({self.bays_per_aisle}) of an aisle"
        return None

    def point(self, b: Bin) -> tuple[Decimal, Decimal]:
        """(x across the aisles, y along them) where the picker stands; the depot is (0, 0)."""
        z = self.zones.index(b.zone)
        x = (z * self.aisles_per_zone + b.aisle - 1) * self.aisle_spacing_m + z * self.zone_gap_m
        y = self.end_m + (b.bay - Decimal("0.5")) * self.bay_width_m
        return x, y


def _check_bins(bins: Sequence[Bin], layout: Layout, field: str) -> None:
    errors = ErrorList()
    for i, b in enumerate(bins):
        why = layout.problem(b)
        if why:
            errors.add(f"{field}[{i}]", "unknown_bin", f"{field}[{i}] {b}: {why}")
    errors.raise_if_any("some bins are not in this warehouse")


def _walk(p: tuple, q: tuple, length) -> Decimal | float:
    """Walking distance between two points (x, y); works on Decimal and on float alike."""
    (xa, ya), (xb, yb) = p, q
    if xa == xb:
        return abs(ya - yb)
    return abs(xa - xb) + min(ya + yb, 2 * length - ya - yb)


def distance(a: Bin, b: Bin, layout: Layout = Layout()) -> Decimal:
    """Metres walked from bin a to bin b."""
    _check_bins([a, b], layout, "bins")
    return _walk(layout.point(a), layout.point(b), layout.aisle_length_m)


def route_length(bins: Sequence[Bin], layout: Layout = Layout(), start_end_at_depot: bool = True) -> Decimal:
    """Metres walked visiting the bins in the given order (from the depot and back to it, by default)."""
    _check_bins(bins, layout, "bins")
    points = [layout.point(b) for b in bins]
    if start_end_at_depot:
        points = [(ZERO, ZERO), *points, (ZERO, ZERO)]
    length = layout.aisle_length_m
    return sum((_walk(p, q, length) for p, q in zip(points, points[1:])), ZERO)


def s_shape_order(bins: Sequence[Bin], layout: Layout = Layout()) -> list[int]:
    """Indices of the bins in S-shape order: aisles from the depot outwards, every other one walked
    back to front. Bins at the same bay are taken from the lowest level up."""
    _check_bins(bins, layout, "bins")
    points = [layout.point(b) for b in bins]
    by_aisle: dict[Decimal, list[int]] = {}
    for i, (x, _) in enumerate(points):
        by_aisle.setdefault(x, []).append(i)
    order: list[int] = []
    for n, x in enumerate(sorted(by_aisle)):
        back_to_front = n % 2 == 1
        order += sorted(
            by_aisle[x],
            key=lambda i: (-points[i][1] if back_to_front else points[i][1], bins[i].level, i),
        )
    return order


def _two_opt(tour: list[int], d: list[list[float]], max_passes: int) -> list[int]:
    """First-improvement 2-opt on a tour whose first and last entries (the depot) stay put."""
    tour = list(tour)
    last = len(tour) - 2  # index of the last movable stop
    for _ in range(max_passes):
        improved = False
        for i in range(1, last):
            a, b = tour[i - 1], tour[i]
            da, db = d[a], d[b]
            for j in range(i + 1, last + 1):
                c, e = tour[j], tour[j + 1]
                if da[c] + db[e] < da[b] + d[c][e] - 1e-9:
                    tour[i:j + 1] = tour[i:j + 1][::-1]
                    b = tour[i]
                    db = d[b]
                    improved = True
        if not improved:
            break
    return tour


def walking_order(bins: Sequence[Bin], layout: Layout = Layout(), max_passes: int = 50) -> list[int]:
    """Indices of the bins in a short walking order from the depot and back: the S-shape improved by
    2-opt, never longer than the S-shape."""
    s_shape = s_shape_order(bins, layout)
    if len(bins) < 3:
        return s_shape
    length = float(layout.aisle_length_m)
    points = [(0.0, 0.0)] + [(float(x), float(y)) for x, y in (layout.point(b) for b in bins)]
    d = [[_walk(p, q, length) for q in points] for p in points]
    # Node 0 is the depot, node i + 1 is bins[i].
    tour = _two_opt([0, *(i + 1 for i in s_shape), 0], d, max_passes)
    improved = [n - 1 for n in tour[1:-1]]
    if route_length([bins[i] for i in improved], layout) < route_length([bins[i] for i in s_shape], layout):
        return improved
    return s_shape


@dataclass(frozen=True)
class PickTask:
    """One thing to pick: `ref` is what it is picked for (an order line, a reservation)."""

    ref: object
    sku: str
    description: str
    bin: Bin
    quantity: Decimal


@dataclass(frozen=True)
class Stop:
    """One place on a pick list: take `quantity` of `sku` from `bin`, shared out as `serves` says."""

    bin: Bin
    sku: str
    description: str
    quantity: Decimal
    serves: tuple[tuple[object, Decimal], ...]  # (ref, quantity), in the order the tasks came


@dataclass(frozen=True)
class PickList:
    stops: list[Stop]
    length_m: Decimal  # walking the stops in list order, from the depot and back
    unsorted_length_m: Decimal  # walking the same tasks in the order they were given
    tasks: list[PickTask] = field(default_factory=list, repr=False)

    @property
    def saved_pct(self) -> Decimal:
        """How much shorter the list's path is than the tasks' own order, in per cent."""
        if not self.unsorted_length_m:
            return ZERO
        return (100 * (1 - self.length_m / self.unsorted_length_m)).quantize(METRE, ROUND_HALF_UP)


def check_pick(reserved: Decimal, already_picked: Decimal, quantity: Decimal, field: str = "quantity") -> Decimal:
    """Refuse picking nothing, a negative quantity, or more than is reserved; returns what is left to pick
    after this pick."""
    if quantity <= 0:
        raise ValidationFailed.one(field, "not_positive", f"{field} must be more than 0 (got {plain(quantity)})")
    left = reserved - already_picked
    if quantity > left:
        raise ValidationFailed.one(
            field, "more_than_reserved",
            f"{field} {plain(quantity)} is more than the {plain(max(left, ZERO))} left to pick "
            f"({plain(reserved)} reserved, {plain(already_picked)} already picked)",
        )
    return left - quantity


def _merge(tasks: Sequence[PickTask]) -> tuple[list[Stop], list[list[int]]]:
    """One stop per (SKU, bin), in the order first seen; also which tasks each stop serves."""
    groups: dict[tuple[str, Bin], list[int]] = {}
    for i, t in enumerate(tasks):
        groups.setdefault((t.sku, t.bin), []).append(i)
    stops = []
    for (sku, b), idx in groups.items():
        first = tasks[idx[0]]
        serves = tuple((tasks[i].ref, tasks[i].quantity) for i in idx)
        stops.append(Stop(b, sku, first.description, sum((q for _, q in serves), ZERO), serves))
    return stops, list(groups.values())


def _shares(n: int, k: int) -> list[int]:
    """n stops over k lists, sizes differing by at most one (the longer lists first)."""
    return [n // k + (1 if i < n % k else 0) for i in range(k)]


def plan_pick_lists(
    tasks: Sequence[PickTask],
    pickers: int | None = None,
    max_lines: int | None = None,
    layout: Layout = Layout(),
) -> list[PickList]:
    """Batch-pick the tasks: merge tasks for the same SKU and bin into one stop, order the stops along a
    short path, and cut the path into contiguous stretches, one list per picker (`pickers`, default 1),
    with more lists if a list would otherwise have more than `max_lines` stops. Each stretch is then
    re-ordered as a route of its own when that is shorter."""
    errors = ErrorList()
    if pickers is not None and pickers < 1:
        errors.add("pickers", "not_positive", f"pickers must be at least 1 (got {pickers})")
    if max_lines is not None and max_lines < 1:
        errors.add("max_lines", "not_positive", f"max_lines must be at least 1 (got {max_lines})")
    for i, t in enumerate(tasks):
        if t.quantity <= 0:
            errors.add(f"tasks[{i}].quantity", "not_positive",
                       f"tasks[{i}].quantity must be more than 0 (got {plain(t.quantity)})")
        why = layout.problem(t.bin)
        if why:
            errors.add(f"tasks[{i}].bin", "unknown_bin", f"tasks[{i}].bin {t.bin}: {why}")
    errors.raise_if_any("some pick tasks are not valid")
    if not tasks:
        return []

    stops, served = _merge(tasks)
    path = walking_order([s.bin for s in stops], layout)
    k = pickers or 1
    if max_lines:
        k = max(k, math.ceil(len(stops) / max_lines))
    k = min(k, len(stops))

    lists, start = [], 0
    for size in _shares(len(stops), k):
        segment = path[start:start + size]
        start += size
        lists.append(_pick_list(segment, stops, served, tasks, layout, reorder=k > 1))
    return lists


def _pick_list(segment, stops, served, tasks, layout, reorder: bool) -> PickList:
    """A list from a stretch of the batch path: re-ordered as a route of its own if that is shorter."""
    bins = [stops[i].bin for i in segment]
    order, length = segment, route_length(bins, layout)
    if reorder:
        own = [segment[i] for i in walking_order(bins, layout)]
        own_length = route_length([stops[i].bin for i in own], layout)
        if own_length < length:
            order, length = own, own_length
    mine = sorted(t for i in segment for t in served[i])  # the tasks this list serves, as given
    unsorted = route_length([tasks[t].bin for t in mine], layout)
    return PickList(
        stops=[stops[i] for i in order],
        length_m=length.quantize(METRE, ROUND_HALF_UP),
        unsorted_length_m=unsorted.quantize(METRE, ROUND_HALF_UP),
        tasks=[tasks[t] for t in mine],
    )
