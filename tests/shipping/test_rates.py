"""Carrier rate tables: what a parcel costs, when it arrives, which service is chosen, and which
tables are refused (with every problem named by its field)."""
import copy
import json
from datetime import date, timedelta
from decimal import Decimal as D

import pytest
from hypothesis import given
from hypothesis import strategies as st

from o2c.core.errors import ValidationFailed
from o2c.shipping.rates import (
    Parcel, Place, add_business_days, billable_weight, estimate, on_time_probability, parse_rate_table, quote,
    quotes, shop,
)

CHICAGO = Place("US", "60614")  # the warehouse
NEW_YORK = Place("US", "10001")  # zone 5 from Chicago
DENVER = Place("US", "80202")  # zone 3
ANCHORAGE = Place("US", "99501")  # zone 8, remote area
FRI, SAT, MON = date(2026, 11, 27), date(2026, 11, 28), date(2026, 11, 30)


def small(kg="1") -> Parcel:
    return Parcel(D(kg), D(20), D(15), D(10))  # 3,000 cm³: 0.6 kg dimensional


def doc() -> dict:
    """A carrier's table: Chicago-area origin (606) and any other US origin (*), Canada by country only."""
    def breaks(extra=0):  # a new list each time, so a test can change one zone's breaks alone
        return [{"max_kg": kg, "price": str(D(price) + extra)}
                for kg, price in (("1", "8.00"), ("2", "9.50"), ("5", "12.00"), ("20", "30.00"))]

    return {
        "carrier": "ACME",
        "currency": "USD",
        "origin_country": "US",
        "dim_divisor": 5000,
        "zones": [
            {"origin": "606", "country": "US", "from": "000", "to": "299", "zone": 5},
            {"origin": "606", "country": "US", "from": "300", "to": "799", "zone": 3},
            {"origin": "606", "country": "US", "from": "800", "to": "989", "zone": 3},
            {"origin": "606", "country": "US", "from": "995", "to": "999", "zone": 8},
            {"origin": "*", "country": "US", "from": "000", "to": "999", "zone": 6},
            {"origin": "*", "country": "CA", "zone": 9},
        ],
        "surcharges": {
            "fuel_pct": "10",
            "residential": "4.00",
            "remote_areas": [{"country": "US", "from": "99500", "to": "99599", "fee": "25.00"}],
            "oversize": {"longest_side_cm": 120, "fee": "30.00"},
        },
        "services": [
            {"code": "GND", "name": "Ground", "transit_days": {"3": 3, "5": 4, "6": 5, "8": 7, "9": 8},
             "rates": [
                 {"zone": 3, "breaks": breaks(), "per_kg_over_last": "1.50"},
                 {"zone": 5, "breaks": breaks(2), "per_kg_over_last": "1.75"},
                 {"zone": 6, "breaks": breaks()},
                 {"zone": 8, "breaks": breaks()},
                 {"zone": 9, "breaks": breaks()},
             ]},
            {"code": "2DAY", "name": "Second day", "transit_days": {"3": 2, "5": 2},
             "surcharges": {"fuel_pct": "15"},
             "rates": [{"zone": 3, "breaks": [{"max_kg": "70", "price": "40.00"}]},
                       {"zone": 5, "breaks": [{"max_kg": "70", "price": "45.00"}]}]},
        ],
    }


def table(d: dict | None = None):
    return parse_rate_table(d or doc())


def errors_of(d: dict) -> dict[str, str]:
    with pytest.raises(ValidationFailed) as exc:
        parse_rate_table(d)
    assert exc.value.status == 422
    return {e.field: e.code for e in exc.value.errors}


# --- zones -----------------------------------------------------------------------------------------


def test_the_most_specific_origin_gives_the_zone_and_other_origins_use_the_default():
    t = table()
    assert t.zone_for(CHICAGO, NEW_YORK) == 5
    assert t.zone_for(CHICAGO, DENVER) == 3
    assert t.zone_for(Place("US", "30301"), NEW_YORK) == 6  # Atlanta: only "*" applies
    assert t.zone_for(CHICAGO, Place("CA", "K1A 0B1")) == 9  # 606 has no Canada bands: "*" covers it


def test_a_destination_no_band_covers_gets_no_quote():
    gap = Place("US", "99001")  # 990-994 is in no band from 606, so the "*" origin's band gives the zone
    assert table().zone_for(CHICAGO, gap) == 6
    d = doc()
    d["zones"] = [z for z in d["zones"] if z["origin"] != "*"]
    t = table(d)
    assert quote(t, "GND", CHICAGO, gap, [small()], FRI) is None
    assert quote(t, "GND", CHICAGO, Place("MX", "01000"), [small()], FRI) is None
    assert quotes([t], CHICAGO, gap, [small()], FRI) == []


def test_a_shipment_from_another_country_than_the_table_gets_no_quote():
    assert quotes([table()], Place("CA", "M5V 2T6"), NEW_YORK, [small()], FRI) == []


def test_postal_codes_compare_on_their_first_characters_ignoring_case_spaces_and_hyphens():
    d = doc()
    d["zones"].append({"origin": "606", "country": "CA", "from": "k1a", "to": "K1Z", "zone": 9})
    t = table(d)
    assert t.zone_for(CHICAGO, Place("ca", "k1a 0b1")) == 9
    assert t.zone_for(CHICAGO, Place("US", "10001-1234")) == 5
    assert t.zone_for(CHICAGO, Place("US", "10")) is None  # too short for any ZIP3 band


@given(cuts=st.lists(st.integers(0, 999), min_size=1, max_size=12, unique=True), probe=st.integers(0, 99999))
def test_zone_lookup_agrees_with_reading_the_bands_one_by_one(cuts, probe):
    """Random non-overlapping ZIP3 bands with gaps; the zone found is the band that holds the ZIP."""
    cuts = sorted(cuts)
    bands = [(lo, hi) for lo, hi in zip(cuts[::2], cuts[1::2] + [cuts[-1]])]
    d = doc()
    d["zones"] = [{"origin": "606", "country": "US", "from": f"{lo:03}", "to": f"{hi:03}", "zone": i}
                  for i, (lo, hi) in enumerate(bands)]
    for s in d["services"]:
        s["transit_days"] = {str(i): 1 for i in range(len(bands))}
        s["rates"] = [{"zone": i, "breaks": [{"max_kg": 70, "price": 1}]} for i in range(len(bands))]
        s.pop("surcharges", None)
    zip5 = f"{probe:05}"
    expected = next((i for i, (lo, hi) in enumerate(bands) if lo <= probe // 100 <= hi), None)
    assert table(d).zone_for(CHICAGO, Place("US", zip5)) == expected


# --- weight ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("kg, base", [
    ("1", "8.00"),  # exactly the first break's max_kg
    ("1.01", "9.50"),  # just above: billed 1.5 kg, the next break
    ("2", "9.50"),
    ("2.3", "12.00"),
    ("20", "30.00"),  # the last break
    ("20.2", "30.75"),  # 20.5 kg: 30.00 + 0.5 x 1.50
    ("31", "46.50"),  # 30.00 + 11 x 1.50
])
def test_weight_breaks_pick_the_band_at_and_just_over_its_edge(kg, base):
    q = quote(table(), "GND", CHICAGO, DENVER, [small(kg)], FRI)
    assert q.breakdown.base == D(base)


def test_a_parcel_over_the_last_break_without_a_price_per_kg_is_not_carried_by_that_service():
    t = table()
    assert quote(t, "GND", CHICAGO, ANCHORAGE, [small("20")], FRI) is not None
    assert quote(t, "GND", CHICAGO, ANCHORAGE, [small("20.1")], FRI) is None  # zone 8: no per_kg_over_last
    assert quote(t, "2DAY", CHICAGO, DENVER, [small("70.5")], FRI) is None


def test_dimensional_weight_wins_for_a_light_large_box():
    pillow_box = Parcel(D("0.8"), D(60), D(40), D(40))  # 96,000 cm³ / 5000 = 19.2 kg
    q = quote(table(), "GND", CHICAGO, DENVER, [pillow_box], FRI)
    assert q.billable_kg == D("19.5")
    assert q.breakdown.base == D("30.00")


def test_unknown_dimensions_bill_the_actual_weight():
    assert billable_weight(Parcel(D("0.2"), D(0), D(0), D(0)), D(5000)) == D("0.5")


@given(kg=st.decimals("0.01", "80", places=2), sides=st.lists(st.decimals("0", "150", places=1), min_size=3, max_size=3),
       divisor=st.sampled_from([D(4000), D(5000), D(6000)]))
def test_billable_weight_is_the_larger_weight_rounded_up_to_half_a_kilo(kg, sides, divisor):
    p = Parcel(kg, *sides)
    heavier = max(kg, sides[0] * sides[1] * sides[2] / divisor)
    b = billable_weight(p, divisor)
    assert heavier <= b < heavier + D("0.5")
    assert (b * 2) == (b * 2).to_integral_value()


# --- surcharges ------------------------------------------------------------------------------------


def test_surcharges_add_up_and_fuel_is_a_percentage_of_the_base_only():
    big = Parcel(D("4"), D("121"), D(20), D(20))  # 48,400 cm³: 9.68 -> 10 kg; longest side over 120 cm
    q = quote(table(), "GND", CHICAGO, ANCHORAGE, [big], FRI, residential=True)
    b = q.breakdown
    assert (b.base, b.fuel, b.residential, b.remote, b.oversize) == (
        D("30.00"), D("3.00"), D("4.00"), D("25.00"), D("30.00"))
    assert q.total == D("92.00")


def test_a_side_exactly_at_the_oversize_limit_pays_no_oversize_fee():
    at_limit = Parcel(D("1"), D("120"), D(5), D(5))
    assert quote(table(), "GND", CHICAGO, DENVER, [at_limit], FRI).breakdown.oversize == 0


def test_fuel_is_rounded_half_up_to_the_cent():
    q = quote(table(), "2DAY", CHICAGO, DENVER, [small()], FRI)  # 15% of 40.00 = 6.00
    assert q.breakdown.fuel == D("6.00")
    d = doc()
    d["surcharges"]["fuel_pct"] = "12.5"
    q = quote(table(d), "GND", CHICAGO, NEW_YORK, [small("1")], FRI)  # 12.5% of 10.00 = 1.25
    assert q.breakdown.fuel == D("1.25")
    d["surcharges"]["fuel_pct"] = "10.0625"
    q = quote(table(d), "GND", CHICAGO, DENVER, [small("1")], FRI)  # 10.0625% of 8.00 = 0.805
    assert q.breakdown.fuel == D("0.81")


def test_a_service_overrides_only_the_surcharges_it_names():
    q = quote(table(), "2DAY", CHICAGO, DENVER, [small()], FRI, residential=True)
    assert q.breakdown.fuel == D("6.00")  # its own 15%
    assert q.breakdown.residential == D("4.00")  # the table's


def test_several_parcels_are_each_priced_and_pay_each_per_parcel_fee():
    two = [small("1"), small("3")]
    q = quote(table(), "GND", CHICAGO, ANCHORAGE, two, FRI, residential=True)
    assert q.billable_kg == D("4")
    assert q.breakdown.base == D("20.00")  # 8.00 + 12.00
    assert q.breakdown.residential == D("8.00")
    assert q.breakdown.remote == D("50.00")


@given(kgs=st.lists(st.decimals("0.1", "40", places=1), min_size=1, max_size=4), residential=st.booleans(),
       fuel=st.decimals("0", "40", places=2), dest=st.sampled_from([NEW_YORK, DENVER, ANCHORAGE]))
def test_the_total_is_the_sum_of_its_parts_each_in_cents(kgs, residential, fuel, dest):
    d = doc()
    d["surcharges"]["fuel_pct"] = str(fuel)
    for q in quotes([table(d)], CHICAGO, dest, [small(k) for k in kgs], FRI, residential):
        parts = [q.breakdown.base, q.breakdown.fuel, q.breakdown.residential, q.breakdown.remote, q.breakdown.oversize]
        assert q.total == sum(parts)
        assert all(p == p.quantize(D("0.01")) for p in parts)


# --- delivery dates --------------------------------------------------------------------------------


def test_delivery_dates_skip_weekends_and_holidays():
    assert add_business_days(FRI, 1) == MON
    assert add_business_days(SAT, 0) == MON  # handed over on Saturday, leaves on Monday
    assert add_business_days(date(2026, 11, 25), 1, {date(2026, 11, 26)}) == FRI  # Thanksgiving
    assert add_business_days(date(2026, 12, 24), 1, {date(2026, 12, 25)}) == date(2026, 12, 28)


def test_a_quote_dates_its_delivery_in_business_days():
    q = quote(table(), "GND", CHICAGO, NEW_YORK, [small()], FRI, holidays={MON})
    assert (q.transit_days, q.delivery_date) == (4, date(2026, 12, 4))  # Tue, Wed, Thu, Fri


@given(start=st.dates(date(2026, 1, 1), date(2027, 12, 31)), days=st.integers(0, 15),
       holidays=st.sets(st.dates(date(2026, 1, 1), date(2028, 2, 1)), max_size=20))
def test_business_days_land_on_a_business_day_with_exactly_that_many_in_between(start, days, holidays):
    end = add_business_days(start, days, holidays)
    def business(d): return d.weekday() < 5 and d not in holidays
    assert business(end)
    first = start
    while not business(first):
        first += timedelta(days=1)
    between = sum(business(first + timedelta(days=i)) for i in range(1, (end - first).days + 1))
    assert between == days


# --- rate shopping ---------------------------------------------------------------------------------


def fast_and_slow():
    """NEW_YORK from Chicago: Ground 11.00 in 4 days (Thu), Second day 51.75 in 2 days (Tue)."""
    return quotes([table()], CHICAGO, NEW_YORK, [small()], FRI)


def test_shop_picks_the_cheapest_service_that_meets_the_promise():
    qs = fast_and_slow()
    relaxed = shop(qs, date(2026, 12, 3), {}, D(0))
    assert (relaxed.chosen.service, relaxed.promise_at_risk) == ("GND", False)
    assert relaxed.candidates[0].reason.startswith("cheapest on time")
    tight = shop(qs, date(2026, 12, 1), {}, D(0))
    assert (tight.chosen.service, tight.promise_at_risk) == ("2DAY", False)
    ground = next(c for c in tight.candidates if c.quote.service == "GND")
    assert not ground.chosen and ground.days_late == 2
    assert ground.reason == "misses the promise by 2 days"


def test_without_a_promise_the_cheapest_risk_weighted_service_is_chosen():
    choice = shop(fast_and_slow(), None, {}, D(10))
    assert choice.chosen.service == "GND" and not choice.promise_at_risk
    assert [c.quote.service for c in choice.candidates] == ["GND", "2DAY"]


def two_carriers(cheap_price: str, reliable_price: str):
    """Two carriers with one Ground service each, same zone map and days; only the price differs."""
    out = []
    for code, price in (("CHEAP", cheap_price), ("SURE", reliable_price)):
        d = doc()
        d["carrier"] = code
        d.pop("surcharges")
        d["services"] = [{"code": "GND", "name": "Ground", "transit_days": {"5": 2, "6": 2},
                          "rates": [{"zone": z, "breaks": [{"max_kg": 70, "price": price}]} for z in (5, 6)]}]
        out.append(table(d))
    return quotes(out, CHICAGO, NEW_YORK, [small()], FRI)


HISTORY = {("CHEAP", "GND"): (50, 100), ("SURE", "GND"): (990, 1000)}


def test_a_cheaper_carrier_that_is_often_late_loses_when_lateness_costs_enough():
    choice = shop(two_carriers("10.00", "12.00"), date(2026, 12, 2), HISTORY, late_cost=D(20))
    assert choice.chosen.carrier == "SURE"
    cheap = next(c for c in choice.candidates if c.quote.carrier == "CHEAP")
    sure = next(c for c in choice.candidates if c.quote.carrier == "SURE")
    assert cheap.p_on_time == D("0.5364")  # (50 + 9) / (100 + 10)
    assert cheap.risk_cost == D("19.27") and sure.risk_cost == D("12.22")
    assert cheap.reason.startswith("cheaper by 2.00 USD but 54% on time against 99%")


def test_the_cheaper_carrier_still_wins_when_the_price_gap_is_large():
    choice = shop(two_carriers("5.00", "30.00"), date(2026, 12, 2), HISTORY, late_cost=D(20))
    assert choice.chosen.carrier == "CHEAP"


def test_without_a_late_cost_reliability_does_not_matter():
    assert shop(two_carriers("10.00", "12.00"), date(2026, 12, 2), HISTORY, D(0)).chosen.carrier == "CHEAP"


def test_little_history_is_neither_trusted_nor_punished_blindly():
    assert on_time_probability(0, 0) == D("0.9")
    assert on_time_probability(1, 2) > D("0.8")  # one late parcel of two: still near the prior
    assert on_time_probability(1, 1) < D("0.95")  # one on time: not yet "always on time"
    assert on_time_probability(500, 1000) < D("0.51")  # a long record outweighs the prior


def test_when_no_service_meets_the_promise_the_earliest_is_chosen_and_flagged():
    choice = shop(fast_and_slow(), date(2026, 11, 27), {}, D(5))
    assert choice.promise_at_risk
    assert choice.chosen.service == "2DAY" and choice.chosen.delivery_date == date(2026, 12, 1)
    first = choice.candidates[0]
    assert first.chosen and first.days_late == 4
    assert "earliest delivery (2026-12-01)" in first.reason and "misses the promise by 4 days" in first.reason
    assert choice.candidates[1].reason == "misses the promise by 6 days"


def test_among_the_earliest_the_lowest_risk_weighted_cost_wins():
    choice = shop(two_carriers("10.00", "12.00"), date(2026, 11, 27), HISTORY, D(20))
    assert choice.promise_at_risk and choice.chosen.carrier == "SURE"
    assert "arrives with the chosen one" in choice.candidates[1].reason


def test_shop_with_no_quotes_chooses_nothing():
    choice = shop([], date(2026, 12, 1), {}, D(5))
    assert choice.chosen is None and choice.candidates == ()


def test_shop_refuses_impossible_history_a_negative_late_cost_and_mixed_currencies():
    qs = fast_and_slow()
    with pytest.raises(ValidationFailed) as exc:
        shop(qs, None, {("ACME", "GND"): (5, 3)}, D(1))
    assert exc.value.errors[0].field == "history[ACME,GND]"
    with pytest.raises(ValidationFailed) as exc:
        shop(qs, None, {}, D(-1))
    assert exc.value.errors[0].field == "late_cost"
    d = doc()
    d["currency"], d["carrier"] = "EUR", "EURO"
    mixed = qs + quotes([table(d)], CHICAGO, NEW_YORK, [small()], FRI)
    with pytest.raises(ValidationFailed) as exc:
        shop(mixed, None, {}, D(1))
    assert exc.value.errors[0].code == "mixed_currencies"


quote_prices = st.lists(st.tuples(st.integers(100, 5000), st.integers(0, 6), st.integers(0, 50), st.integers(0, 50)),
                        min_size=1, max_size=8)


@given(rows=quote_prices, promise=st.integers(0, 6), late_cost=st.integers(0, 100))
def test_the_choice_meets_the_promise_when_any_can_and_nothing_on_time_is_cheaper_risk_weighted(rows, promise, late_cost):
    tables = []
    for i, (cents, days, _, _) in enumerate(rows):
        d = doc()
        d["carrier"] = f"C{i}"
        d.pop("surcharges")
        d["services"] = [{"code": "S", "name": "S", "transit_days": {"5": days},
                          "rates": [{"zone": 5, "breaks": [{"max_kg": 70, "price": str(D(cents) / 100)}]}]}]
        tables.append(table(d))
    qs = quotes(tables, CHICAGO, NEW_YORK, [small()], MON)
    history = {(f"C{i}", "S"): (min(a, b), max(a, b)) for i, (_, _, a, b) in enumerate(rows)}
    promise_date = add_business_days(MON, promise)
    choice = shop(qs, promise_date, history, D(late_cost))
    on_time = [c for c in choice.candidates if c.quote.delivery_date <= promise_date]
    chosen = choice.candidates[0]
    assert chosen.chosen and chosen.quote is choice.chosen
    assert len(choice.candidates) == len(qs)
    if on_time:
        assert not choice.promise_at_risk and chosen in on_time
        assert chosen.risk_cost == min(c.risk_cost for c in on_time)
    else:
        assert choice.promise_at_risk
        assert chosen.quote.delivery_date == min(q.delivery_date for q in qs)


# --- estimate --------------------------------------------------------------------------------------


def test_estimate_gives_the_cheapest_cost_and_its_transit_days():
    assert estimate([table()], CHICAGO, NEW_YORK, D("1"), FRI) == (D("11.00"), 4)  # Ground: 10.00 + 10% fuel
    assert estimate([table()], CHICAGO, Place("MX", "01000"), D("1"), FRI) is None


# --- bad input -------------------------------------------------------------------------------------


def test_a_parcel_without_weight_is_refused_with_its_field():
    with pytest.raises(ValidationFailed) as exc:
        quotes([table()], CHICAGO, NEW_YORK, [small(), Parcel(D(0), D(1), D(-1), D(1))], FRI)
    assert {e.field for e in exc.value.errors} == {"parcels[1].weight_kg", "parcels[1].width_cm"}
    with pytest.raises(ValidationFailed):
        quotes([table()], CHICAGO, NEW_YORK, [], FRI)


def test_quoting_an_unknown_service_is_refused():
    with pytest.raises(ValidationFailed) as exc:
        quote(table(), "AIR", CHICAGO, NEW_YORK, [small()], FRI)
    assert exc.value.errors[0].field == "service"


def test_overlapping_postal_bands_are_refused_naming_both():
    d = doc()
    d["zones"][1]["from"] = "250"  # 250-799 overlaps 000-299
    d["zones"].append({"origin": "*", "country": "CA", "from": "A", "to": "M", "zone": 9})  # country already whole
    with pytest.raises(ValidationFailed) as exc:
        parse_rate_table(d)
    errors = {e.field: e for e in exc.value.errors}
    assert set(errors) == {"zones[1].from", "zones[6]"}
    assert errors["zones[1].from"].code == "overlap"
    assert "zones[0] (000-299)" in errors["zones[1].from"].message
    assert "zones[5]" in errors["zones[6]"].message


def test_bands_sharing_an_edge_or_inside_another_overlap():
    d = doc()
    d["zones"][2]["from"] = "799"  # zones[1] ends at 799
    d["zones"][3:4] = [{"origin": "606", "country": "US", "from": "990", "to": "999", "zone": 8},
                       {"origin": "606", "country": "US", "from": "992", "to": "993", "zone": 8},
                       {"origin": "606", "country": "US", "from": "995", "to": "996", "zone": 8}]
    codes = errors_of(d)
    assert codes == {"zones[2].from": "overlap", "zones[4].from": "overlap", "zones[5].from": "overlap"}


def test_a_longer_origin_prefix_is_more_specific():
    d = doc()
    d["zones"].append({"origin": "6", "country": "US", "from": "000", "to": "999", "zone": 8})
    t = table(d)
    assert t.zone_for(CHICAGO, NEW_YORK) == 5  # 606 before 6
    assert t.zone_for(Place("US", "63101"), NEW_YORK) == 8  # St. Louis: 6 before *


def test_the_same_band_from_different_origins_is_not_an_overlap():
    d = doc()
    d["zones"].append({"origin": "100", "country": "US", "from": "000", "to": "299", "zone": 3})
    assert table(d).zone_for(Place("US", "10001"), NEW_YORK) == 3


def test_bands_of_one_origin_and_country_must_have_one_length_and_run_forwards():
    d = doc()
    d["zones"][1]["from"], d["zones"][1]["to"] = "3000", "7999"
    d["zones"][2]["to"] = "700"
    assert errors_of(d) == {"zones[1].from": "invalid", "zones[2].to": "invalid"}


def test_unsorted_and_repeated_weight_breaks_are_refused():
    d = doc()
    breaks = d["services"][0]["rates"][1]["breaks"]
    breaks[1]["max_kg"], breaks[2]["max_kg"] = "5", "2"
    d["services"][1]["rates"][0]["breaks"].append({"max_kg": "70.0", "price": "50"})
    assert errors_of(d) == {
        "services[0].rates[1].breaks[2].max_kg": "not_increasing",
        "services[1].rates[0].breaks[1].max_kg": "not_increasing",
    }


def test_duplicate_service_codes_and_zones_are_refused():
    d = doc()
    d["services"].append(copy.deepcopy(d["services"][0]))
    d["services"][0]["rates"].append({"zone": 3, "breaks": [{"max_kg": 1, "price": 1}]})
    assert errors_of(d) == {"services[2].code": "duplicate", "services[0].rates[5].zone": "duplicate"}


def test_negative_prices_and_fees_are_refused():
    d = doc()
    d["services"][0]["rates"][0]["breaks"][3]["price"] = "-30.00"
    d["services"][0]["rates"][0]["per_kg_over_last"] = -1
    d["surcharges"]["remote_areas"][0]["fee"] = "-25"
    d["services"][1]["surcharges"]["fuel_pct"] = "-2"
    assert errors_of(d) == {
        "services[0].rates[0].breaks[3].price": "negative",
        "services[0].rates[0].per_kg_over_last": "negative",
        "surcharges.remote_areas[0].fee": "negative",
        "services[1].surcharges.fuel_pct": "negative",
    }


def test_a_zone_with_transit_days_but_no_price_or_a_price_but_no_days_is_refused():
    d = doc()
    d["services"][1]["transit_days"]["6"] = 3  # no rates for zone 6
    d["services"][0]["rates"][4]["breaks"] = []  # zone 9 has no price
    d["services"][0]["transit_days"].pop("8")  # zone 8 priced, no days
    assert errors_of(d) == {
        "services[1].transit_days.6": "no_price",
        "services[0].rates[4].breaks": "no_price",
        "services[0].rates[3].zone": "no_transit_days",
    }


def test_missing_fields_unknown_codes_and_unknown_fields_are_each_named():
    d = doc()
    del d["dim_divisor"]
    d["currency"] = "USX"
    d["zones"][0]["country"] = "UX"
    del d["zones"][1]["to"]
    del d["services"][0]["rates"][0]["breaks"][0]["price"]
    d["services"][1]["transit"] = {}
    assert errors_of(d) == {
        "dim_divisor": "missing",
        "currency": "unknown_currency",
        "zones[0].country": "unknown_country",
        "zones[1].to": "missing",
        "services[0].rates[0].breaks[0].price": "missing",
        "services[1].transit": "unknown_field",
    }


def test_a_document_that_is_not_an_object_or_has_wrong_types_is_refused():
    assert errors_of([]) == {"rate_table": "invalid"}
    d = doc()
    d["zones"] = {}
    d["dim_divisor"] = "five thousand"
    d["services"][0]["transit_days"]["5"] = -1
    codes = errors_of(d)
    assert codes["zones"] == "invalid" and codes["dim_divisor"] == "invalid"
    assert codes["services[0].transit_days.5"] == "invalid"


def test_parsing_changes_nothing_in_the_document_and_reads_json_numbers_as_written():
    d = json.loads(json.dumps(doc()).replace('"8.00"', "8.1"))  # a JSON number, read as a float
    before = copy.deepcopy(d)
    t = parse_rate_table(d)
    assert d == before
    assert t.service("GND").rates[3].prices[0] == D("8.1")
    bad = copy.deepcopy(d)
    bad["zones"][0]["to"] = "000"
    bad["zones"][0]["from"] = "100"
    snapshot = copy.deepcopy(bad)
    with pytest.raises(ValidationFailed):
        parse_rate_table(bad)
    assert bad == snapshot


# --- the documentation's example -------------------------------------------------------------------


def test_the_documented_example_parses_and_gives_the_documented_figures():
    from pathlib import Path

    text = (Path(__file__).resolve().parents[2] / "docs" / "shipping-rates.md").read_text()
    t = parse_rate_table(json.loads(text.split("```json\n", 1)[1].split("```", 1)[0]))
    box = Parcel(D("3.2"), D(40), D(30), D(30))
    found = {q.service: q for q in quotes([t], CHICAGO, ANCHORAGE, [box], FRI, residential=True)}
    ground, second = found["GND"], found["2DAY"]
    assert (ground.zone, ground.billable_kg, ground.total, ground.delivery_date) == (
        6, D("7.5"), D("82.55"), date(2026, 12, 4))
    assert (ground.breakdown.base, ground.breakdown.fuel, ground.breakdown.remote) == (D("38.00"), D("4.75"), D("35.00"))
    assert (second.total, second.breakdown.fuel, second.delivery_date) == (D("129.50"), D("11.70"), date(2026, 12, 1))
    tight = shop(list(found.values()), date(2026, 12, 3), {}, D(15))
    assert tight.chosen.service == "2DAY" and tight.candidates[1].reason == "misses the promise by 1 day"
    relaxed = shop(list(found.values()), date(2026, 12, 4), {("ACME", "GND"): (170, 200)}, D(15))
    assert relaxed.chosen.service == "GND"
    assert [c.risk_cost for c in relaxed.candidates] == [D("84.76"), D("131.00")]
    assert relaxed.candidates[0].reason == "cheapest on time (82.55 USD, 85% on time)"
    assert t.zone_for(Place("US", "30301"), Place("CA", "K1A 0B1")) == 9
    assert quote(t, "2DAY", CHICAGO, Place("CA", "K1A 0B1"), [box], FRI) is None
