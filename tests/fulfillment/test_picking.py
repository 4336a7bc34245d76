"""Pick lists: bin codes, walking distances, the walking order, batch lists per picker, over-pick refusals."""
import random
from decimal import Decimal as D

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from o2c.core.errors import ValidationFailed
from o2c.fulfillment.picking import (
    Bin, Layout, PickTask, check_pick, distance, parse_bin, plan_pick_lists, route_length, s_shape_order,
    walking_order,
)

# One zone, 3 aisles 3 m apart, 4 bays of 1 m, 1 m from each cross-aisle to the bays: aisles are 6 m
# long between the cross-aisles' centre lines, and bay b is picked at y = 1 + (b - 0.5) = b + 0.5.
SMALL = Layout(zones=("A",), aisles_per_zone=3, bays_per_aisle=4, aisle_spacing_m=D(3), bay_width_m=D(1),
               end_m=D(1))
WAREHOUSE = Layout(zones=("A", "B", "C"), aisles_per_zone=20, bays_per_aisle=40)


def b(code: str) -> Bin:
    return parse_bin(code)


def refusal(exc_info) -> tuple[str, str, str]:
    e = exc_info.value.errors[0]
    return e.field, e.code, e.message


# Bin codes


def test_a_bin_code_is_read_and_written_back_in_its_canonical_form():
    assert parse_bin("A-03-12-2") == Bin("A", 3, 12, 2)
    assert str(parse_bin(" b-3-7-0 ")) == "B-03-07-0"
    assert parse_bin("CD-101-200-11") == Bin("CD", 101, 200, 11)


@pytest.mark.parametrize("code", ["A-03-12", "3-03-12-2", "A-03-12-2-1", "A/03/12/2", "", "A-00-12-2", "A-03-X-2"])
def test_a_malformed_bin_code_is_refused_naming_the_field_and_the_shape(code):
    with pytest.raises(ValidationFailed) as exc:
        parse_bin(code, field="lines[4].bin")
    field, error_code, message = refusal(exc)
    assert (field, error_code) == ("lines[4].bin", "invalid_bin")
    assert message.startswith(f"lines[4].bin {code!r}")


def test_the_malformed_bin_message_shows_the_expected_shape():
    with pytest.raises(ValidationFailed) as exc:
        parse_bin("A-03-12")
    assert "ZONE-AISLE-BAY-LEVEL, like A-03-12-2" in refusal(exc)[2]


def test_a_bin_outside_the_warehouse_is_refused_naming_it():
    with pytest.raises(ValidationFailed) as exc:
        route_length([b("A-01-01-1"), b("A-04-01-1"), b("Q-01-01-1")], SMALL)
    assert [(e.field, e.code) for e in exc.value.errors] == [("bins[1]", "unknown_bin"), ("bins[2]", "unknown_bin")]
    assert "aisle 4 is past the last aisle (3)" in exc.value.errors[0].message
    assert "zone Q is not in this warehouse (zones A)" in exc.value.errors[1].message


# Distances, by hand on SMALL


def test_walking_within_an_aisle_is_the_distance_along_it():
    assert distance(b("A-03-01-1"), b("A-03-04-5"), SMALL) == D(3)


def test_changing_aisle_goes_round_the_nearer_cross_aisle():
    # aisle 1 bay 2 (y 2.5) to aisle 3 bay 1 (y 1.5): 6 m across + front (2.5 + 1.5) rather than back (3.5 + 4.5)
    assert distance(b("A-01-02-1"), b("A-03-01-1"), SMALL) == D(10)
    # aisle 1 bay 2 to aisle 2 bay 4 (y 4.5): 3 m across + back (3.5 + 1.5) rather than front (2.5 + 4.5)
    assert distance(b("A-01-02-1"), b("A-02-04-1"), SMALL) == D(8)


def test_levels_cost_nothing_to_walk():
    assert distance(b("A-02-03-1"), b("A-02-03-5"), SMALL) == 0


def test_route_length_by_hand():
    route = [b("A-01-02-1"), b("A-03-04-1"), b("A-03-01-1")]
    # depot (0, 0) -> (0, 2.5): 2.5; -> (6, 4.5): 6 + back 3.5 + 1.5 = 11; -> (6, 1.5): 3; -> depot: 6 + 1.5
    assert route_length(route, SMALL) == D("24.0")
    assert route_length(route, SMALL, start_end_at_depot=False) == D("14.0")


def test_zones_lie_one_after_another_with_their_walkway():
    two = Layout(zones=("A", "B"), aisles_per_zone=3, bays_per_aisle=4, aisle_spacing_m=D(3),
                 bay_width_m=D(1), end_m=D(1), zone_gap_m=D(2))
    # last aisle of A (x 6) to first of B (x 9 + 2): 5 m across, front cross-aisle (1.5 + 1.5)
    assert distance(b("A-03-01-1"), b("B-01-01-1"), two) == D(8)


# Walking order


def test_s_shape_walks_every_other_aisle_back_to_front():
    bins = [b("A-02-01-1"), b("A-01-04-1"), b("A-03-03-1"), b("A-01-01-1"), b("A-02-04-1"), b("A-03-01-1")]
    order = s_shape_order(bins, SMALL)
    assert [str(bins[i]) for i in order] == [
        "A-01-01-1", "A-01-04-1",  # aisle 1 front to back
        "A-02-04-1", "A-02-01-1",  # aisle 2 back to front
        "A-03-01-1", "A-03-03-1",  # aisle 3 front to back
    ]


def test_2opt_shortens_a_random_batch_against_the_s_shape():
    rnd = random.Random(7)
    bins = [Bin(rnd.choice("ABC"), rnd.randint(1, 20), rnd.randint(1, 40), rnd.randint(1, 5)) for _ in range(80)]
    s_shape = route_length([bins[i] for i in s_shape_order(bins, WAREHOUSE)], WAREHOUSE)
    walked = route_length([bins[i] for i in walking_order(bins, WAREHOUSE)], WAREHOUSE)
    unsorted = route_length(bins, WAREHOUSE)
    assert walked < s_shape < unsorted


bins_in_warehouse = st.builds(
    Bin, st.sampled_from(WAREHOUSE.zones), st.integers(1, 20), st.integers(1, 40), st.integers(1, 5))


@settings(max_examples=60, deadline=None)
@given(bins=st.lists(bins_in_warehouse, max_size=40))
def test_walking_order_visits_every_bin_once_and_is_never_longer_than_the_s_shape(bins):
    s_shape = s_shape_order(bins, WAREHOUSE)
    walked = walking_order(bins, WAREHOUSE)
    assert sorted(s_shape) == list(range(len(bins)))
    assert sorted(walked) == list(range(len(bins)))
    assert route_length([bins[i] for i in walked], WAREHOUSE) <= route_length([bins[i] for i in s_shape], WAREHOUSE)
    assert walking_order(bins, WAREHOUSE) == walked  # deterministic


# Pick lists


def task(ref, sku, code, qty=1):
    return PickTask(ref, sku, f"{sku} description", b(code), D(qty))


def test_the_same_sku_from_the_same_bin_is_one_stop_serving_each_order():
    tasks = [task("O1/1", "WID", "A-02-03-1", 2), task("O2/1", "GAD", "A-01-01-1", 1),
             task("O2/2", "WID", "A-02-03-1", 3), task("O3/1", "WID", "A-03-01-1", 4)]
    [pick_list] = plan_pick_lists(tasks, layout=SMALL)
    stops = {(s.sku, str(s.bin)): s for s in pick_list.stops}
    assert len(pick_list.stops) == 3
    widgets = stops[("WID", "A-02-03-1")]
    assert widgets.quantity == D(5)
    assert widgets.serves == (("O1/1", D(2)), ("O2/2", D(3)))
    assert stops[("WID", "A-03-01-1")].serves == (("O3/1", D(4)),)  # another bin stays a stop of its own


def test_a_pick_list_reports_its_path_against_the_order_the_tasks_came_in():
    # The orders came in hopping between the far aisle and the near one.
    tasks = [task(1, "P1", "A-03-04-1"), task(2, "P2", "A-01-01-1"), task(3, "P3", "A-03-01-1"),
             task(4, "P4", "A-01-04-1")]
    [pick_list] = plan_pick_lists(tasks, layout=SMALL)
    assert [str(s.bin) for s in pick_list.stops] == ["A-01-01-1", "A-01-04-1", "A-03-04-1", "A-03-01-1"]
    assert pick_list.length_m == route_length([s.bin for s in pick_list.stops], SMALL)
    assert pick_list.unsorted_length_m == route_length([t.bin for t in tasks], SMALL)
    assert pick_list.length_m < pick_list.unsorted_length_m
    assert pick_list.saved_pct > 0


def test_lists_for_several_pickers_cover_every_task_once_in_contiguous_path_stretches():
    rnd = random.Random(3)
    codes = [f"{rnd.choice('ABC')}-{rnd.randint(1, 20):02d}-{rnd.randint(1, 40):02d}-{rnd.randint(1, 5)}"
             for _ in range(50)]
    tasks = [task(f"O{n}", f"SKU{n % 37}", codes[n % 45], n % 4 + 1) for n in range(60)]
    lists = plan_pick_lists(tasks, pickers=3, layout=WAREHOUSE)
    assert len(lists) == 3
    served = sorted((ref, q) for pl in lists for s in pl.stops for ref, q in s.serves)
    assert served == sorted((t.ref, t.quantity) for t in tasks)
    sizes = [len(pl.stops) for pl in lists]
    assert max(sizes) - min(sizes) <= 1
    # Each list holds one stretch of the batch's walking path (re-ordered within itself at most).
    batch = plan_pick_lists(tasks, layout=WAREHOUSE)[0].stops
    start = 0
    for pl in lists:
        stretch = batch[start:start + len(pl.stops)]
        assert {(s.sku, s.bin) for s in pl.stops} == {(s.sku, s.bin) for s in stretch}
        start += len(pl.stops)


def test_max_lines_makes_more_lists_than_pickers():
    tasks = [task(n, f"S{n}", f"A-{n % 3 + 1:02d}-{n % 4 + 1:02d}-{n}") for n in range(10)]
    lists = plan_pick_lists(tasks, pickers=2, max_lines=4, layout=SMALL)
    assert [len(pl.stops) for pl in lists] == [4, 3, 3]
    assert sum(len(pl.tasks) for pl in lists) == 10


def test_more_pickers_than_stops_gives_one_list_per_stop():
    lists = plan_pick_lists([task(1, "A", "A-01-01-1"), task(2, "B", "A-02-01-1")], pickers=5, layout=SMALL)
    assert [len(pl.stops) for pl in lists] == [1, 1]


def test_no_tasks_no_lists():
    assert plan_pick_lists([], pickers=2, layout=SMALL) == []


def test_bad_planning_input_is_refused_naming_each_field():
    with pytest.raises(ValidationFailed) as exc:
        plan_pick_lists([task(1, "A", "A-01-01-1", 0), task(2, "B", "A-01-09-1")], pickers=0, max_lines=0,
                        layout=SMALL)
    assert [(e.field, e.code) for e in exc.value.errors] == [
        ("pickers", "not_positive"), ("max_lines", "not_positive"),
        ("tasks[0].quantity", "not_positive"), ("tasks[1].bin", "unknown_bin"),
    ]


# Picking against the reservation


def test_a_pick_within_the_reservation_returns_what_is_left():
    assert check_pick(D(5), D(2), D(3)) == D(0)
    assert check_pick(D(5), D(0), D("1.5")) == D("3.5")


def test_picking_more_than_reserved_is_refused_with_the_figures():
    with pytest.raises(ValidationFailed) as exc:
        check_pick(D(5), D(3), D(3), field="lines[2].picked")
    assert refusal(exc) == (
        "lines[2].picked", "more_than_reserved",
        "lines[2].picked 3 is more than the 2 left to pick (5 reserved, 3 already picked)",
    )


@pytest.mark.parametrize("qty", [D(0), D(-1)])
def test_picking_nothing_or_a_negative_quantity_is_refused(qty):
    with pytest.raises(ValidationFailed) as exc:
        check_pick(D(5), D(0), qty)
    assert refusal(exc)[:2] == ("quantity", "not_positive")
