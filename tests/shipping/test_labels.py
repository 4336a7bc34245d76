"""Shipping documents: SSCC-18, the ZPL and PDF label, the packing slip."""
from __future__ import annotations

import re
from dataclasses import replace
from datetime import date
from decimal import Decimal

import pytest

from o2c.core.errors import ValidationFailed
from o2c.shipping import labels
from o2c.shipping.labels import (
    LabelAddress, PackingSlip, PackingSlipLine, ShippingLabel, is_valid_sscc, label_pdf, label_zpl,
    packing_slip_pdf, parse_zpl, sscc, sscc_hri,
)

GS1_EXAMPLE = "106141411234567897"

SHIP_FROM = LabelAddress("ACME Widgets Ltd", "1 Factory Rd", "", "Springfield", "IL", "62701", "US")
SHIP_TO = LabelAddress("Northwind Traders", "22 Main Street", "Suite 400", "Chicago", "IL", "60601", "US")
LABEL = ShippingLabel(
    ship_from=SHIP_FROM, ship_to=SHIP_TO, carrier_name="UPS", service_name="Ground",
    tracking_number="1Z999AA10123456784", sscc=GS1_EXAMPLE, weight_kg=Decimal("12.5"),
    package_no=2, package_count=3, order_number="SO-1001", shipment_number="SH-55",
    ship_date=date(2026, 11, 30), company_prefix_length=7,
)


# --- SSCC ----------------------------------------------------------------------------------------

def test_gs1_example_sscc():
    assert sscc(1, "0614141", 123456789) == GS1_EXAMPLE
    assert is_valid_sscc(GS1_EXAMPLE)
    assert sscc_hri(GS1_EXAMPLE, 7) == "(00) 1 0614141 123456789 7"
    assert sscc_hri(GS1_EXAMPLE) == "(00) 106141411234567897"
    assert is_valid_sscc("(00) 1 0614141 123456789 7")


def test_the_check_digit_refuses_any_changed_digit():
    for position in range(18):
        for delta in range(1, 10):
            digit = (int(GS1_EXAMPLE[position]) + delta) % 10
            changed = GS1_EXAMPLE[:position] + str(digit) + GS1_EXAMPLE[position + 1:]
            assert not is_valid_sscc(changed), changed


def test_sscc_serial_fills_what_the_prefix_leaves():
    long_prefix = sscc(0, "123456789012", 1)
    assert long_prefix[:17] == "0" + "123456789012" + "0001" and is_valid_sscc(long_prefix)
    short_prefix = sscc(9, "061414", 9_999_999_999)
    assert short_prefix[:17] == "9" + "061414" + "9999999999" and is_valid_sscc(short_prefix)


@pytest.mark.parametrize(
    ("args", "argument"),
    [
        ((10, "0614141", 1), "extension"),
        ((1, "06141", 1), "company_prefix"),
        ((1, "06141A1", 1), "company_prefix"),
        ((1, "0614141", 10**9), "serial"),
        ((1, "0614141", -1), "serial"),
    ],
)
def test_sscc_arguments_that_do_not_fit_are_named(args, argument):
    with pytest.raises(ValueError, match=f"^{argument}:"):
        sscc(*args)


def test_not_an_sscc():
    assert not is_valid_sscc("10614141123456789")  # 17 digits
    assert not is_valid_sscc("10614141123456789A")
    with pytest.raises(ValueError, match="^sscc:"):
        sscc_hri("106141411234567898")


# --- ZPL -----------------------------------------------------------------------------------------

def _fields(zpl: str) -> list[dict[str, str]]:
    """Each ^FO ... ^FS field as {command: parameters}."""
    fields, current = [], None
    for command, params in parse_zpl(zpl):
        if command == "^FO":
            current = {}
        if current is not None:
            current[command] = params
        if command == "^FS" and current is not None:
            fields.append(current)
            current = None
    return fields


def _texts(zpl: str) -> list[str]:
    return [f["^FD"] for f in _fields(zpl) if "^A" in f]


def test_zpl_label_frame_and_size():
    zpl = label_zpl(LABEL)
    commands = parse_zpl(zpl)
    assert zpl.startswith("^XA") and zpl.endswith("^XZ")
    assert commands[0] == ("^XA", "") and commands[-1] == ("^XZ", "")
    assert [c for c, _ in commands].count("^XZ") == 1
    assert ("^PW", "812") in commands and ("^LL", "1218") in commands and ("^CI", "28") in commands


def test_zpl_sscc_barcode_is_gs1_128_with_a_valid_check_digit():
    barcodes = [f for f in _fields(label_zpl(LABEL)) if "^BC" in f]
    sscc_fields = [f for f in barcodes if f["^FD"].startswith(">;>800")]
    assert len(sscc_fields) == 1
    field = sscc_fields[0]
    assert field["^BC"].startswith("N,") and field["^BC"].endswith(",N,N,N")
    digits = field["^FD"][len(">;>800"):]
    assert digits == GS1_EXAMPLE and is_valid_sscc(digits)
    assert "SSCC (00) 1 0614141 123456789 7" in _texts(label_zpl(LABEL))


def test_zpl_carries_tracking_number_addresses_and_package_facts():
    zpl = label_zpl(LABEL)
    barcodes = [f["^FD"] for f in _fields(zpl) if "^BC" in f]
    assert "1Z999AA10123456784" in barcodes
    texts = _texts(zpl)
    for expected in (
        "Northwind Traders", "22 Main Street", "Suite 400", "Chicago, IL 60601", "ACME Widgets Ltd",
        "UPS", "Ground", "TRACKING #: 1Z999AA10123456784", "PACKAGE 2 OF 3", "WEIGHT: 12.5 KG",
        "ORDER: SO-1001", "SHIPMENT: SH-55", "SHIP DATE: 2026-11-30",
    ):
        assert expected in texts
    # Ship-to is the largest text on the label.
    sizes = {f["^FD"]: int(f["^A"].split(",")[1]) for f in _fields(zpl) if "^A" in f}
    assert sizes["Northwind Traders"] == max(sizes.values())


def test_all_digit_tracking_number_uses_code128_subset_c():
    label = replace(LABEL, tracking_number="9400 1112 0620 6406 2607 87")
    barcodes = [f["^FD"] for f in _fields(label_zpl(label)) if "^BC" in f]
    assert ">;9400111206206406260787" in barcodes


def test_caret_tilde_and_underscore_in_data_do_not_break_the_zpl():
    name = "Jane ^XZ Doe~JA_Co"
    zpl = label_zpl(replace(LABEL, ship_to=replace(SHIP_TO, name=name, line2="a\nb")))
    commands = parse_zpl(zpl)
    assert [c for c, _ in commands].count("^XZ") == 1 and commands[-1] == ("^XZ", "")
    assert not any(c.startswith("~") for c, _ in commands)
    assert name in _texts(zpl)  # printed as given, decoded from ^FH hex escapes
    assert "Jane _5EXZ Doe_7EJA_5FCo" in zpl
    assert "a b" in _texts(zpl)  # a line break in data becomes a space


def test_long_ship_to_text_is_made_to_fit():
    long_name = "Internationale Handelsgesellschaft für Werkzeuge und Maschinenbau GmbH & Co. KG"
    zpl = label_zpl(replace(LABEL, ship_to=replace(SHIP_TO, name=long_name)))
    field = next(f for f in _fields(zpl) if "^A" in f and f["^FD"] and long_name.startswith(f["^FD"][:20]))
    height = int(field["^A"].split(",")[1])
    assert height < 44  # smaller type first
    assert labels._text_width(field["^FD"], height, True) <= labels.WIDTH - 2 * labels.MARGIN


def test_parse_zpl_reads_the_zebra_example():
    assert parse_zpl("^XA^FO25,25^BCN,150,N,N,N^FD>;>800106141411234567897^FS^XZ") == [
        ("^XA", ""), ("^FO", "25,25"), ("^BC", "N,150,N,N,N"), ("^FD", ">;>800106141411234567897"),
        ("^FS", ""), ("^XZ", ""),
    ]
    with pytest.raises(ValueError, match="^zpl:"):
        parse_zpl("hello ^XA^XZ")


@pytest.mark.parametrize(
    ("change", "field"),
    [
        (dict(sscc="106141411234567898"), "sscc"),
        (dict(tracking_number="1Z/99"), "tracking_number"),
        (dict(package_no=4), "package_no"),
        (dict(weight_kg=12.5), "weight_kg"),
        (dict(weight_kg=Decimal("NaN")), "weight_kg"),
        (dict(ship_to=replace(SHIP_TO, name=" ")), "ship_to.name"),
        (dict(company_prefix_length=5), "company_prefix_length"),
    ],
)
def test_a_bad_label_is_refused_naming_the_field(change, field):
    with pytest.raises(ValidationFailed) as failed:
        label_zpl(replace(LABEL, **change))
    assert [e.field for e in failed.value.errors] == [field]
    with pytest.raises(ValidationFailed):
        label_pdf(replace(LABEL, **change))


# --- PDF -----------------------------------------------------------------------------------------

def _shown(text: str) -> bytes:
    """How reportlab writes a text string in an uncompressed page."""
    escaped = text.replace("\\", "\\\\").replace("(", "\\(").replace(")", "\\)")
    return f"({escaped}) Tj".encode("latin-1")


def _pages(pdf: bytes) -> int:
    return len(re.findall(rb"/Type /Page\b(?!s)", pdf))


def test_label_pdf_is_one_4x6_page_with_the_label_text():
    pdf = label_pdf(LABEL, compress=False)
    assert pdf.startswith(b"%PDF")
    assert _pages(pdf) == 1
    assert re.search(rb"/MediaBox \[ 0 0 288 432 \]", pdf)
    for text in ("TRACKING #: 1Z999AA10123456784", "SSCC \\(00\\) 1 0614141 123456789 7", "Northwind Traders"):
        assert f"({text}) Tj".encode() in pdf


def test_label_pdf_is_the_same_bytes_for_the_same_label():
    assert label_pdf(LABEL) == label_pdf(LABEL)
    assert label_pdf(LABEL) != label_pdf(replace(LABEL, package_no=3))


def test_pdf_sscc_barcode_is_gs1_128():
    barcode = labels._pdf_barcode(labels._Barcode(0, 0, 254, 4, GS1_EXAMPLE, True))
    barcode.validate()
    # Start C (105), FNC1 (102), then the pairs 00 10 61 41 41 12 34 56 78 97, check, stop (106).
    assert barcode.encode()[:12] == [105, 102, 0, 10, 61, 41, 41, 12, 34, 56, 78, 97]
    assert barcode.encode()[-1] == 106


# --- packing slip ----------------------------------------------------------------------------------

def _slip(n_lines: int) -> PackingSlip:
    lines = [
        PackingSlipLine(f"SKU-{i:04d}", f"Widget {i}, blue", Decimal(10), Decimal(7), Decimal(3), "EA")
        for i in range(1, n_lines + 1)
    ]
    return PackingSlip(
        company_name="ACME Widgets Ltd", ship_from=SHIP_FROM, ship_to=SHIP_TO, order_number="SO-1001",
        po_number="PO-77", shipment_number="SH-55", ship_date=date(2026, 11, 30), lines=lines,
        packages=[(GS1_EXAMPLE, "1Z999AA10123456784", Decimal("12.5")), ("", "", Decimal("3.25"))],
    )


def test_packing_slip_shows_lines_packages_and_references():
    pdf = packing_slip_pdf(_slip(3), compress=False)
    assert pdf.startswith(b"%PDF") and _pages(pdf) == 1
    for text in ("Order: SO-1001", "PO: PO-77", "Shipment: SH-55", "SKU-0001", "SKU-0003",
                 "(00) 106141411234567897", "1Z999AA10123456784", "15.75", "2 package(s)"):
        assert _shown(text) in pdf, text
    # ordered, shipped, backordered of a line
    assert _shown("10") in pdf and _shown("7") in pdf and _shown("3") in pdf


def test_a_120_line_packing_slip_runs_over_several_pages_with_its_heading_on_each():
    pdf = packing_slip_pdf(_slip(120), compress=False)
    pages = _pages(pdf)
    assert pages >= 3
    assert pdf.count(_shown("PACKING SLIP")) == pages
    assert pdf.count(_shown("Backordered")) >= pages  # the table header repeats
    assert _shown("SKU-0001") in pdf and _shown("SKU-0120") in pdf
    assert _shown(f"Page {pages}") in pdf


def test_packing_slip_paper_and_determinism():
    letter = packing_slip_pdf(_slip(2), paper="Letter", compress=False)
    assert re.search(rb"/MediaBox \[ 0 0 612 792 \]", letter)
    assert packing_slip_pdf(_slip(40)) == packing_slip_pdf(_slip(40))


def test_a_bad_packing_slip_is_refused_naming_the_fields():
    slip = _slip(2)
    bad = replace(
        slip,
        lines=[replace(slip.lines[0], shipped=Decimal(-1)), slip.lines[1]],
        packages=[("106141411234567898", "", Decimal(1))],
    )
    with pytest.raises(ValidationFailed) as failed:
        packing_slip_pdf(bad)
    assert {e.field for e in failed.value.errors} == {"lines[0].shipped", "packages[0].sscc"}
    with pytest.raises(ValidationFailed) as failed:
        packing_slip_pdf(slip, paper="A5")
    assert [e.field for e in failed.value.errors] == ["paper"]


def test_description_with_markup_characters_is_printed_as_text():
    line = PackingSlipLine("S1", "Bolts <M8> & nuts", Decimal(1), Decimal(1), Decimal(0), "BOX")
    slip = replace(_slip(1), lines=[line])
    pdf = packing_slip_pdf(slip, compress=False)
    # A paragraph may be shown in several pieces: join the strings of each text object.
    texts = [b"".join(re.findall(rb"\((.*?)\) Tj", block)) for block in re.findall(rb"BT (.*?) ET", pdf)]
    assert b"Bolts <M8> & nuts" in texts
