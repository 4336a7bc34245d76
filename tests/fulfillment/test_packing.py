"""Packing: every item scanned against the shipment, the box to use, and the weight check of the parcel."""
from decimal import Decimal as D

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from o2c.core.errors import ValidationFailed
from o2c.fulfillment.packing import (
    Box, PackItem, ScanRefused, barcode_map, close_check, expected_weight, missing, normalise_barcode, qc_check,
    scan, split_into_boxes, start_packing, suggest_box,
)

# A real EAN-13 (check digit 1) and the same product as GTIN-14 and GS1-128.
GTIN13 = "4006381333931"
GTIN14 = "04006381333931"
UPC_A = "012345678905"
EAN_8 = "96385074"


# Barcodes


@pytest.mark.parametrize("raw", [GTIN13, GTIN14, f"(01){GTIN14}", f"01{GTIN14}", f"(01){GTIN14}(10)LOT7",
                                 f"01{GTIN14}10LOT7", f"]C101{GTIN14}", f" {GTIN13}\n"])
def test_every_form_of_one_gtin_normalises_to_the_same_14_digits(raw):
    assert normalise_barcode(raw) == GTIN14


def test_short_gtins_are_padded_to_14_digits():
    assert normalise_barcode(UPC_A) == "00012345678905"
    assert normalise_barcode(EAN_8) == "00000096385074"


def test_a_sku_label_is_kept_as_text():
    assert normalise_barcode("WID-100") == "WID-100"


@pytest.mark.parametrize("raw, should", [("4006381333932", "1"), ("(01)04006381333938", "1")])
def test_a_gtin_with_a_bad_check_digit_is_refused_as_a_misread(raw, should):
    with pytest.raises(ScanRefused) as exc:
        normalise_barcode(raw)
    assert exc.value.code == "invalid_barcode"
    assert f"check digit should be {should}" in exc.value.detail
    assert "scan it again" in exc.value.detail


def test_a_gs1_128_code_without_a_gtin_is_refused():
    with pytest.raises(ScanRefused) as exc:
        normalise_barcode("(00)340123450000000000")
    assert exc.value.code == "invalid_barcode"
    assert "carries no GTIN (application identifier 01)" in exc.value.detail


def test_the_barcode_map_refuses_bad_and_shared_gtins_naming_the_product():
    with pytest.raises(ValidationFailed) as exc:
        barcode_map({"WID": [GTIN13, "4006381333932"], "GAD": [GTIN14, "ABC"]})
    assert [(e.field, e.code) for e in exc.value.errors] == [
        ("gtins[WID]", "invalid_gtin"), ("gtins[GAD]", "duplicate_gtin"), ("gtins[GAD]", "invalid_gtin"),
    ]
    assert "already belongs to SKU WID" in exc.value.errors[1].message


# Scanning a shipment


PRODUCTS = barcode_map({"WID": [GTIN13], "GAD": [UPC_A], "BOLT": [EAN_8], "4711": []})


def session(**expected):
    return start_packing({sku: D(q) for sku, q in expected.items()}, PRODUCTS)


def test_the_gtin13_gtin14_and_gs1_128_forms_of_a_product_each_count_as_it():
    s = session(WID=3)
    for raw in (GTIN13, GTIN14, f"(01){GTIN14}"):
        out = scan(s, raw)
        assert out.sku == "WID"
        s = out.session
    assert s.scanned == {"WID": D(3)}
    assert out.sku_complete and out.all_packed


def test_a_sku_label_and_a_sku_made_of_digits_are_found():
    s = session(WID=1, **{"4711": 1})
    s = scan(s, "WID").session
    out = scan(s, "4711")
    assert out.sku == "4711" and out.all_packed


def test_a_scan_of_several_units_counts_them_all():
    out = scan(session(GAD=5), UPC_A, quantity=3)
    assert (out.packed, out.expected, out.sku_complete) == (D(3), D(5), False)


@pytest.mark.parametrize("barcode, expected_code, message", [
    ("4006381333948", "unknown_barcode", "barcode 4006381333948 is not a known product"),
    ("NOPE-1", "unknown_barcode", "barcode NOPE-1 is not a known product"),
    (UPC_A, "wrong_item", "SKU GAD is not in this shipment: take it out of the parcel"),
    ("4006381333932", "invalid_barcode", "check digit should be 1"),
])
def test_refused_scans_say_why_and_change_nothing(barcode, expected_code, message):
    s = scan(session(WID=2, BOLT=1), GTIN13).session
    before = dict(s.scanned)
    with pytest.raises(ScanRefused) as exc:
        scan(s, barcode)
    assert exc.value.code == expected_code
    assert exc.value.errors[0].field == "barcode"
    assert message in exc.value.detail
    assert s.scanned == before == {"WID": D(1)}


def test_an_extra_item_is_refused_once_everything_of_its_sku_is_packed():
    s = session(WID=5)
    s = scan(s, GTIN13, quantity=5).session
    with pytest.raises(ScanRefused) as exc:
        scan(s, GTIN14)
    assert exc.value.code == "extra_item"
    assert exc.value.detail.startswith("SKU WID: all 5 already packed")
    assert s.scanned == {"WID": D(5)}


def test_a_multi_unit_scan_beyond_what_is_left_is_refused_whole():
    s = scan(session(WID=5), GTIN13, quantity=3).session
    with pytest.raises(ScanRefused) as exc:
        scan(s, GTIN13, quantity=3)
    assert exc.value.code == "extra_item"
    assert exc.value.detail == "SKU WID: only 2 more to pack (3 of 5 packed), not 3"
    assert s.scanned == {"WID": D(3)}


def test_a_scan_of_no_units_is_refused():
    with pytest.raises(ScanRefused) as exc:
        scan(session(WID=1), GTIN13, quantity=0)
    assert (exc.value.errors[0].field, exc.value.code) == ("quantity", "not_positive")


def test_missing_items_are_listed_and_closing_is_refused_naming_every_short_sku():
    s = session(WID=3, GAD=2, BOLT=1)
    s = scan(s, GTIN13).session
    s = scan(s, UPC_A, quantity=2).session
    assert missing(s) == {"WID": D(2), "BOLT": D(1)}
    with pytest.raises(ScanRefused) as exc:
        close_check(s)
    assert exc.value.code == "missing_item"
    assert [(e.field, e.message) for e in exc.value.errors] == [
        ("expected[WID]", "SKU WID: 2 missing (1 of 3 packed)"),
        ("expected[BOLT]", "SKU BOLT: 1 missing (0 of 1 packed)"),
    ]
    s = scan(scan(s, GTIN13, quantity=2).session, EAN_8).session
    assert missing(s) == {}
    close_check(s)  # everything packed: closes


# Boxes (cm, kg)

S = Box("S", D(20), D(15), D(10), D(5), D("0.2"))  # 3,000 cm3
M = Box("M", D(40), D(30), D(20), D(20), D("0.5"))  # 24,000 cm3
L = Box("L", D(60), D(40), D(40), D(30), D("0.9"))  # 96,000 cm3
BOXES = [L, S, M]  # in no particular order


def item(l, w, h, kg, qty=1, ref=None):
    return PackItem((D(l), D(w), D(h)), D(kg), qty, ref)


def test_the_smallest_box_that_takes_everything_is_suggested():
    assert suggest_box([item(10, 10, 5, "0.5", 2)], BOXES) == S  # 1,000 cm3 of 3,000
    assert suggest_box([item(10, 10, 5, "0.5", 6)], BOXES) == M  # 3,000 cm3: over 85% of S


def test_one_unit_that_fits_by_its_sides_may_fill_the_box_beyond_the_fill_factor():
    assert suggest_box([item(19, 14, 10, 1)], BOXES) == S  # 2,660 cm3: 89% of S, but it is one piece
    assert suggest_box([item(19, 14, 5, 1, 2)], BOXES) == M  # the same volume in two pieces


def test_an_item_fits_turned_on_its_side():
    assert suggest_box([(( D(9), D(19), D(14)), D(1), 1)], BOXES) == S  # 9x19x14 fits 20x15x10 turned


def test_an_item_too_long_for_any_box_gets_no_box_and_cannot_be_split():
    pole = item(120, 5, 5, 2)
    assert suggest_box([pole], BOXES) is None
    with pytest.raises(ValidationFailed) as exc:
        split_into_boxes([item(10, 10, 10, 1), pole], BOXES)
    assert (exc.value.errors[0].field, exc.value.errors[0].code) == ("items[1]", "fits_no_box")
    assert "120×5×5 cm" in exc.value.errors[0].message


def test_weight_moves_to_a_stronger_box():
    # Small enough for S, but 4.9 kg + 0.2 kg tare is over S's 5 kg.
    assert suggest_box([item(10, 10, 10, "4.9")], BOXES) == M
    assert suggest_box([item(10, 10, 10, "4.8")], BOXES) == S


def test_too_heavy_for_one_box_gives_none():
    assert suggest_box([item(20, 20, 20, 10, 3)], BOXES) is None  # 30 kg + tare


def test_split_into_boxes_packs_every_unit_into_boxes_that_take_them():
    items = [item(30, 30, 30, 8, 3, ref="kettle"), item(10, 10, 5, "0.3", 7, ref="mug"),
             item(55, 35, 10, 4, 1, ref="tray")]
    parcels = split_into_boxes(items, BOXES)
    packed: dict = {}
    for box, contents in parcels:
        assert suggest_box(contents, [box]) == box  # each parcel's box takes its contents
        assert suggest_box(contents, BOXES) == box  # and is the smallest that does
        for c in contents:
            packed[c.ref] = packed.get(c.ref, 0) + c.quantity
    assert packed == {"kettle": 3, "mug": 7, "tray": 1}
    assert len(parcels) == 2  # 24 kg of kettles + 4 kg tray + 2.1 kg mugs is over one L's 30 kg


def test_split_refuses_part_units():
    with pytest.raises(ValidationFailed) as exc:
        split_into_boxes([item(10, 10, 10, 1, D("1.5"))], BOXES)
    assert exc.value.errors[0].field == "items[0].quantity"


def test_nothing_to_pack_is_refused():
    with pytest.raises(ValidationFailed) as exc:
        suggest_box([], BOXES)
    assert exc.value.errors[0].field == "items"


sizes = st.integers(1, 60).map(D)
items_st = st.lists(
    st.builds(lambda l, w, h, g, q: item(l, w, h, D(g) / 1000, q),
              sizes, sizes.filter(lambda d: d <= 40), sizes.filter(lambda d: d <= 40), st.integers(1, 20000),
              st.integers(1, 6)),
    min_size=1, max_size=5)


@settings(max_examples=60, deadline=None)
@given(items=items_st)
def test_split_never_loses_or_overfills(items):
    parcels = split_into_boxes(items, BOXES)
    total = {}
    for box, contents in parcels:
        assert suggest_box(contents, [box]) == box
        for c in contents:
            total[c.dims_cm, c.weight_kg] = total.get((c.dims_cm, c.weight_kg), 0) + c.quantity
    want = {}
    for it in items:
        want[it.dims_cm, it.weight_kg] = want.get((it.dims_cm, it.weight_kg), 0) + it.quantity
    assert total == want


# Weight check


def test_expected_weight_is_items_plus_the_box():
    assert expected_weight([item(10, 10, 5, "0.35", 3), item(5, 5, 5, "0.1")], M) == D("1.65")


def test_within_tolerance_either_way_passes():
    assert qc_check(D("10.000"), D("10.45")).passed  # 5% of 10 kg is 0.5 kg
    result = qc_check(D("10.000"), D("9.55"))
    assert result.passed and result.difference_kg == D("-0.450") and result.difference_pct == D("-4.5")
    assert "within the 0.5 kg tolerance" in result.message


def test_beyond_tolerance_either_way_holds_the_parcel():
    heavy = qc_check(D("10"), D("10.6"))
    assert not heavy.passed
    assert heavy.message == ("weighed 10.6 kg, expected 10 kg: +0.6 kg (+6%), beyond the 0.5 kg tolerance:"
                             " hold the parcel for review")
    assert not qc_check(D("10"), D("9.4")).passed


def test_a_light_parcel_gets_the_minimum_tolerance():
    # 5% of 0.6 kg is 30 g, under the scale's 100 g floor: 80 g over passes, 120 g under holds.
    assert qc_check(D("0.6"), D("0.68")).passed
    light = qc_check(D("0.6"), D("0.48"))
    assert not light.passed and light.tolerance_kg == D("0.1")


def test_bad_weights_are_refused_naming_the_field():
    with pytest.raises(ValidationFailed) as exc:
        qc_check(D(0), D(-1))
    assert [e.field for e in exc.value.errors] == ["expected_kg", "weighed_kg"]
