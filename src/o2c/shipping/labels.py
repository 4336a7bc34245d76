"""Shipping documents, pure: GS1 SSCC-18, the 4x6 in carrier label (ZPL II and PDF), the packing slip.

Sources: GS1 General Specifications (SSCC layout, mod-10 check digit, GS1-128 with FNC1), the Zebra
ZPL II Programming Guide (commands, the firmware-independent GS1-128 form `>;>800<sscc>`), STANDARDS §11.

The label is one layout, in printer dots (203 dpi, 812 x 1218 = 4 x 6 in), drawn twice: as ZPL for
thermal printers and as a PDF page (1 dot = 72/203 pt) for people without one. It is a generic
shipping label, not a carrier-certified one (carriers that require their own label send it).

Text in ZPL: every text field is sent with ^FH, so `^`, `~` and `_` in the data travel as the hex
escapes _5E, _7E and _5F and can never end the field or start a command; control characters (a tab,
a line break) become spaces. Nothing is refused for its characters: a customer's name is what it is.
Barcode data never needs escaping: tracking numbers and SSCCs are checked to be [0-9A-Z] / digits.

Text in PDF: the 14 standard PDF fonts (Helvetica), so output needs no font files and is the same
bytes for the same input (`invariant=1`). Characters outside Latin-1 show as a box there; ZPL (^CI28,
UTF-8) prints them if the printer has the font.

Barcodes in PDF: reportlab 5.1.0 has no GS1-128 class, but its Code128 encodes FNC1 written as
"\\xf1"; "\\xf1" + "00" + SSCC gives Start C, FNC1, the digit pairs: a GS1-128 symbol.
"""
from __future__ import annotations

import io
import re
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from xml.sax.saxutils import escape as xml_escape

import pycountry
from reportlab.graphics.barcode.code128 import Code128
from reportlab.lib import colors
from reportlab.lib.pagesizes import A4, letter
from reportlab.lib.styles import ParagraphStyle
from reportlab.lib.units import mm
from reportlab.pdfbase.pdfmetrics import stringWidth
from reportlab.pdfgen import canvas
from reportlab.platypus import Paragraph, SimpleDocTemplate, Spacer, Table, TableStyle
from stdnum import ean

from o2c.core.errors import ErrorList
from o2c.core.money import plain
from o2c.shipping.tracking import normalise

# --- SSCC-18 -----------------------------------------------------------------------------------

# GS1 Company Prefixes used in SSCCs are 6 to 12 digits (GS1 EPC Tag Data Standard, SSCC partitions).
PREFIX_LENGTHS = range(6, 13)


def sscc(extension: int, company_prefix: str, serial: int) -> str:
    """The 18-digit SSCC: extension digit, GS1 Company Prefix, serial reference, check digit.

    The serial reference fills the 16 - len(company_prefix) digits left. Raises ValueError naming
    the argument that does not fit.
    """
    if isinstance(extension, bool) or not isinstance(extension, int) or not 0 <= extension <= 9:
        raise ValueError(f"extension: one digit 0-9, got {extension!r}")
    if not (isinstance(company_prefix, str) and company_prefix.isdigit() and len(company_prefix) in PREFIX_LENGTHS):
        raise ValueError(f"company_prefix: 6 to 12 digits, got {company_prefix!r}")
    width = 16 - len(company_prefix)
    if isinstance(serial, bool) or not isinstance(serial, int) or not 0 <= serial < 10**width:
        raise ValueError(f"serial: 0 to {10**width - 1} with a {len(company_prefix)}-digit prefix, got {serial!r}")
    body = f"{extension}{company_prefix}{serial:0{width}d}"
    return body + ean.calc_check_digit(body)


def _sscc_digits(s: str) -> str:
    """Spaces and a leading "(00)" removed, as people copy an SSCC from a label."""
    s = re.sub(r"\s", "", s)
    return s[4:] if s.startswith("(00)") else s


def is_valid_sscc(s: str) -> bool:
    """18 digits with the GS1 check digit; spaces and a leading "(00)" are allowed."""
    d = _sscc_digits(s) if isinstance(s, str) else ""
    return bool(re.fullmatch(r"[0-9]{18}", d)) and ean.calc_check_digit(d[:17]) == d[17]


def sscc_hri(sscc: str, company_prefix_length: int | None = None) -> str:
    """The human-readable line under/over the barcode: "(00) 1 0614141 123456789 7".

    The grouping needs the GS1 Company Prefix length, which the number itself does not tell;
    without it the digits stay together ("(00) 106141411234567897"), which GS1 also allows.
    """
    if not is_valid_sscc(sscc):
        raise ValueError(f"sscc: not a valid SSCC-18: {sscc!r}")
    d = _sscc_digits(sscc)
    if company_prefix_length is None:
        return f"(00) {d}"
    if company_prefix_length not in PREFIX_LENGTHS:
        raise ValueError(f"company_prefix_length: 6 to 12, got {company_prefix_length!r}")
    p = 1 + company_prefix_length
    return f"(00) {d[0]} {d[1:p]} {d[p:17]} {d[17]}"


# --- documents ---------------------------------------------------------------------------------

@dataclass(frozen=True)
class LabelAddress:
    name: str
    line1: str
    line2: str
    city: str
    region: str
    postal_code: str
    country: str  # ISO 3166 alpha-2


@dataclass(frozen=True)
class ShippingLabel:
    ship_from: LabelAddress
    ship_to: LabelAddress
    carrier_name: str
    service_name: str
    tracking_number: str
    sscc: str
    weight_kg: Decimal
    package_no: int
    package_count: int
    order_number: str
    shipment_number: str
    ship_date: date
    company_prefix_length: int | None = None  # groups the SSCC's printed digits (see sscc_hri)


@dataclass(frozen=True)
class PackingSlipLine:
    sku: str
    description: str
    ordered: Decimal
    shipped: Decimal
    backordered: Decimal
    uom: str


@dataclass(frozen=True)
class PackingSlip:
    company_name: str
    ship_from: LabelAddress
    ship_to: LabelAddress
    order_number: str
    po_number: str
    shipment_number: str
    ship_date: date
    lines: list[PackingSlipLine]
    packages: list[tuple[str, str, Decimal]]  # (sscc, tracking number, weight kg); either may be ""


def _address_lines(a: LabelAddress) -> list[str]:
    place = ", ".join(p for p in (a.city.strip(), a.region.strip()) if p)
    place = " ".join(p for p in (place, a.postal_code.strip()) if p)
    country = pycountry.countries.get(alpha_2=a.country.strip().upper()) if len(a.country.strip()) == 2 else None
    lines = [a.name, a.line1, a.line2, place, country.name if country else a.country]
    return [line.strip() for line in lines if line and line.strip()]


def _check_address(errors: ErrorList, field: str, a: LabelAddress) -> None:
    for name in ("name", "line1", "city", "country"):
        if not str(getattr(a, name) or "").strip():
            errors.add(f"{field}.{name}", "required", f"{field}.{name} is required on a shipping document")


def _check_label(label: ShippingLabel) -> None:
    errors = ErrorList()
    _check_address(errors, "ship_from", label.ship_from)
    _check_address(errors, "ship_to", label.ship_to)
    if not re.fullmatch(r"[0-9A-Z]{1,40}", normalise(label.tracking_number or "")):
        errors.add("tracking_number", "invalid", "tracking_number: 1 to 40 letters and digits")
    if not is_valid_sscc(label.sscc or ""):
        errors.add("sscc", "invalid", f"sscc: {label.sscc!r} is not a valid SSCC-18 (18 digits, GS1 check digit)")
    if not (isinstance(label.weight_kg, Decimal) and label.weight_kg.is_finite() and label.weight_kg > 0):
        errors.add("weight_kg", "invalid", "weight_kg: a Decimal above 0")
    if not (isinstance(label.package_count, int) and label.package_count >= 1):
        errors.add("package_count", "invalid", "package_count: 1 or more")
    elif not (isinstance(label.package_no, int) and 1 <= label.package_no <= label.package_count):
        errors.add("package_no", "invalid", f"package_no: 1 to {label.package_count}")
    if label.company_prefix_length is not None and label.company_prefix_length not in PREFIX_LENGTHS:
        errors.add("company_prefix_length", "invalid", "company_prefix_length: 6 to 12")
    errors.raise_if_any("The shipping label is not valid")


# --- the label layout, in dots -----------------------------------------------------------------

DPI = 203
WIDTH, HEIGHT = 812, 1218  # 4 x 6 in at 203 dpi
MARGIN = 30
_QUIET_MODULES = 10  # Code 128 quiet zone each side, in modules


@dataclass(frozen=True)
class _Text:
    x: int
    y: int  # top of the text
    height: int
    text: str
    bold: bool = False


@dataclass(frozen=True)
class _Rule:
    y: int
    thickness: int = 3


@dataclass(frozen=True)
class _Barcode:
    x: int
    y: int
    height: int
    module: int  # narrowest bar, dots
    data: str
    gs1_sscc: bool  # data is an SSCC, encoded as GS1-128 (FNC1, AI 00)


def _text_width(text: str, height: int, bold: bool) -> float:
    # Helvetica metrics stand in for ZPL font 0, which is narrower (condensed): a safe estimate.
    return stringWidth(text, "Helvetica-Bold" if bold else "Helvetica", height)


def _fit(x: int, y: int, text: str, height: int, bold: bool = False, width: int = WIDTH - 2 * MARGIN,
         min_height: int | None = None) -> _Text:
    """Text that fits `width`: smaller type down to min_height, then cut at the end."""
    text = re.sub(r"[\x00-\x1f\x7f]", " ", text).strip()
    h = height
    while _text_width(text, h, bold) > width and min_height and h > min_height:
        h -= 2
    while text and _text_width(text, h, bold) > width:
        text = text[:-1]
    return _Text(x, y, h, text.rstrip(), bold)


def _code128_modules(data: str, gs1_sscc: bool) -> int:
    """Width in modules of the Code 128 symbol that label_zpl asks the printer for."""
    if gs1_sscc:
        symbols = 2 + 10 + 1  # Start C, FNC1, ten digit pairs ("00" + 18 digits), check
    elif data.isdigit() and len(data) % 2 == 0:
        symbols = 1 + len(data) // 2 + 1  # subset C: two digits a symbol
    else:
        symbols = 1 + len(data) + 1  # subset B
    return symbols * 11 + 13  # the stop pattern is 13 modules


def _centred_barcode(y: int, height: int, data: str, gs1_sscc: bool, modules: tuple[int, ...]) -> _Barcode:
    # The widest module that leaves the quiet zones on the label (40 characters fit at 1 dot).
    n = _code128_modules(data, gs1_sscc)
    module = next(m for m in modules if (n + 2 * _QUIET_MODULES) * m <= WIDTH)
    return _Barcode((WIDTH - n * module) // 2, y, height, module, data, gs1_sscc)


def _label_layout(label: ShippingLabel) -> list:
    _check_label(label)
    tracking = normalise(label.tracking_number)
    sscc_digits = _sscc_digits(label.sscc)
    half = (WIDTH - 2 * MARGIN) // 2
    items: list = []

    # Ship from: small, top left.
    y = 20
    for i, line in enumerate(_address_lines(label.ship_from)[:4]):
        items.append(_fit(MARGIN, y, line, 22, bold=i == 0))
        y += 26
    items.append(_Rule(130))

    # Ship to: the largest text on the label.
    items.append(_fit(MARGIN, 140, "SHIP TO:", 22, bold=True))
    y = 168
    for line in _address_lines(label.ship_to)[:5]:
        items.append(_fit(MARGIN, y, line, 44, bold=True, min_height=32))
        y += 50
    items.append(_Rule(425))

    # Carrier and service.
    items.append(_fit(MARGIN, 436, label.carrier_name, 44, bold=True, min_height=30))
    items.append(_fit(MARGIN, 484, label.service_name, 30, min_height=22))
    items.append(_Rule(522))

    # Tracking number: text, then its Code 128.
    items.append(_fit(MARGIN, 532, f"TRACKING #: {tracking}", 28, bold=True, min_height=20))
    items.append(_centred_barcode(570, 140, tracking, False, (3, 2, 1)))
    items.append(_Rule(722))

    # Package facts, two columns.
    items += [
        _fit(MARGIN, 734, f"WEIGHT: {plain(label.weight_kg)} KG", 28, width=half),
        _fit(MARGIN + half, 734, f"PACKAGE {label.package_no} OF {label.package_count}", 28, bold=True, width=half),
        _fit(MARGIN, 768, f"ORDER: {label.order_number}", 28, width=half, min_height=20),
        _fit(MARGIN + half, 768, f"SHIPMENT: {label.shipment_number}", 28, width=half, min_height=20),
        _fit(MARGIN, 802, f"SHIP DATE: {label.ship_date.isoformat()}", 28, width=half),
    ]
    items.append(_Rule(838))

    # SSCC: human-readable line, then the GS1-128 symbol. GS1 logistic labels ask for an X-dimension
    # of at least 0.495 mm (4 dots = 0.5 mm here) and a bar height of at least 31.75 mm (254 dots).
    hri = sscc_hri(sscc_digits, label.company_prefix_length)
    items.append(_fit(MARGIN, 848, f"SSCC {hri}", 30, bold=True))
    items.append(_centred_barcode(888, 254, sscc_digits, True, (4,)))
    return items


# --- ZPL ---------------------------------------------------------------------------------------

def _zpl_field_data(text: str) -> str:
    """Text for a ^FH^FD field: the characters ZPL would read as commands, hex-escaped."""
    return text.replace("_", "_5F").replace("^", "_5E").replace("~", "_7E")


def _zpl_item(item) -> str:
    if isinstance(item, _Text):
        return f"^FO{item.x},{item.y}^A0N,{item.height},{item.height}^FH^FD{_zpl_field_data(item.text)}^FS"
    if isinstance(item, _Rule):
        return f"^FO{MARGIN},{item.y}^GB{WIDTH - 2 * MARGIN},{item.thickness},{item.thickness}^FS"
    if item.gs1_sscc:
        data = ">;>800" + item.data  # Start C, FNC1, AI 00, the SSCC (Zebra's firmware-independent form)
    elif item.data.isdigit() and len(item.data) % 2 == 0:
        data = ">;" + item.data  # subset C: half as wide
    else:
        data = item.data
    return f"^BY{item.module}^FO{item.x},{item.y}^BCN,{item.height},N,N,N^FD{data}^FS"


def label_zpl(label: ShippingLabel) -> str:
    """The label as ZPL II: 4 x 6 in at 203 dpi, UTF-8 text (^CI28). Encode the result as UTF-8."""
    commands = ["^XA", "^CI28", f"^PW{WIDTH}", f"^LL{HEIGHT}", "^LH0,0"]
    commands += [_zpl_item(item) for item in _label_layout(label)]
    commands.append("^XZ")
    return "\n".join(commands)


def _unhex(data: str) -> str:
    """Undo ^FH escapes (_XX = one byte; the bytes are UTF-8 under ^CI28)."""
    out = bytearray()
    i = 0
    while i < len(data):
        if data[i] == "_" and re.fullmatch(r"[0-9A-Fa-f]{2}", data[i + 1:i + 3]):
            out.append(int(data[i + 1:i + 3], 16))
            i += 3
        else:
            out += data[i].encode()
            i += 1
    return out.decode("utf-8", errors="replace")


def parse_zpl(zpl: str) -> list[tuple[str, str]]:
    """(command, parameters) in order, e.g. ("^FO", "30,20"), ("^A", "0N,22,22"), ("^FD", "ACME").

    Commands are ^ or ~ plus two characters, except ^A (scalable font), whose font name is the first
    parameter character. Line breaks between commands are ignored, as printers do. ^FD data that
    follows ^FH is returned decoded. Raises ValueError on text before the first command.
    """
    result: list[tuple[str, str]] = []
    hex_field = False
    for m in re.finditer(r"([\^~])([^\^~]*)", zpl):
        if not result and zpl[:m.start()].strip():
            raise ValueError(f"zpl: text before the first command: {zpl[:m.start()][:20]!r}")
        prefix, body = m.groups()
        if prefix == "^" and body[:1] == "A" and body[1:2] != "@":
            name, params = prefix + "A", body[1:]
        else:
            name, params = prefix + body[:2], body[2:]
        params = params.replace("\r", "").replace("\n", "")
        if name == "^FH":
            hex_field = True
        elif name == "^FD" and hex_field:
            params = _unhex(params)
        elif name == "^FS":
            hex_field = False
        result.append((name, params))
    if not result and zpl.strip():
        raise ValueError("zpl: no commands found")
    return result


# --- PDF ---------------------------------------------------------------------------------------

PT_PER_DOT = 72 / DPI


def _pdf_barcode(item: _Barcode) -> Code128:
    # reportlab writes FNC1 as "\xf1"; it then starts in subset C for the digits that follow.
    value = "\xf1" + "00" + item.data if item.gs1_sscc else item.data
    return Code128(
        value, barWidth=item.module * PT_PER_DOT, barHeight=item.height * PT_PER_DOT, quiet=0, humanReadable=0,
    )


def label_pdf(label: ShippingLabel, *, compress: bool = True) -> bytes:
    """The label as a one-page 4 x 6 in PDF. Same input, same bytes. compress=False keeps the page
    content readable (tests search it for the text)."""
    items = _label_layout(label)
    page_h = HEIGHT * PT_PER_DOT
    buf = io.BytesIO()
    c = canvas.Canvas(
        buf, pagesize=(WIDTH * PT_PER_DOT, page_h), invariant=1, pageCompression=int(compress),
    )
    c.setTitle(f"Shipping label {normalise(label.tracking_number)}")
    c.setCreator("o2c")
    for item in items:
        if isinstance(item, _Text):
            size = item.height * PT_PER_DOT
            c.setFont("Helvetica-Bold" if item.bold else "Helvetica", size)
            # ZPL places the top of the text at y; the PDF baseline sits about 0.8 of a line lower.
            c.drawString(item.x * PT_PER_DOT, page_h - (item.y + 0.8 * item.height) * PT_PER_DOT, item.text)
        elif isinstance(item, _Rule):
            c.setLineWidth(item.thickness * PT_PER_DOT)
            y = page_h - (item.y + item.thickness / 2) * PT_PER_DOT
            c.line(MARGIN * PT_PER_DOT, y, (WIDTH - MARGIN) * PT_PER_DOT, y)
        else:
            barcode = _pdf_barcode(item)
            x = (WIDTH * PT_PER_DOT - barcode.width) / 2  # reportlab may encode more tightly than the printer
            barcode.drawOn(c, x, page_h - (item.y + item.height) * PT_PER_DOT)
    c.showPage()
    c.save()
    return buf.getvalue()


# --- packing slip ------------------------------------------------------------------------------

PAPER = {"A4": A4, "Letter": letter}


def _check_slip(slip: PackingSlip, paper: str) -> None:
    errors = ErrorList()
    if paper not in PAPER:
        errors.add("paper", "invalid", f"paper: one of {', '.join(PAPER)}")
    if not str(slip.company_name or "").strip():
        errors.add("company_name", "required", "company_name is required on a packing slip")
    _check_address(errors, "ship_from", slip.ship_from)
    _check_address(errors, "ship_to", slip.ship_to)
    for i, line in enumerate(slip.lines):
        for name in ("ordered", "shipped", "backordered"):
            q = getattr(line, name)
            if not (isinstance(q, Decimal) and q.is_finite() and q >= 0):
                errors.add(f"lines[{i}].{name}", "invalid", f"lines[{i}].{name}: a Decimal of 0 or more")
    for i, (sscc_, tracking, weight) in enumerate(slip.packages):
        if sscc_ and not is_valid_sscc(sscc_):
            errors.add(f"packages[{i}].sscc", "invalid", f"packages[{i}].sscc: {sscc_!r} is not a valid SSCC-18")
        if not (isinstance(weight, Decimal) and weight.is_finite() and weight >= 0):
            errors.add(f"packages[{i}].weight_kg", "invalid", f"packages[{i}].weight_kg: a Decimal of 0 or more")
    errors.raise_if_any("The packing slip is not valid")


_BODY = ParagraphStyle("body", fontName="Helvetica", fontSize=9, leading=11)
_GRID = [
    ("FONT", (0, 0), (-1, 0), "Helvetica-Bold", 9),
    ("FONT", (0, 1), (-1, -1), "Helvetica", 9),
    ("LINEBELOW", (0, 0), (-1, 0), 0.8, colors.black),
    ("LINEBELOW", (0, 1), (-1, -1), 0.25, colors.grey),
    ("VALIGN", (0, 0), (-1, -1), "TOP"),
]


def _para(text: str) -> Paragraph:
    return Paragraph(xml_escape(text), _BODY)


def _address_block(title: str, a: LabelAddress) -> Paragraph:
    lines = [f"<b>{xml_escape(title)}</b>"] + [xml_escape(line) for line in _address_lines(a)]
    return Paragraph("<br/>".join(lines), _BODY)


def packing_slip_pdf(slip: PackingSlip, *, paper: str = "A4", compress: bool = True) -> bytes:
    """The packing slip on A4 or Letter: addresses, the lines (ordered / shipped / backordered) and
    the packages. Long slips run over several pages; the heading and the table header repeat."""
    _check_slip(slip, paper)
    pagesize = PAPER[paper]
    buf = io.BytesIO()
    doc = SimpleDocTemplate(
        buf, pagesize=pagesize, invariant=1, pageCompression=int(compress),
        leftMargin=15 * mm, rightMargin=15 * mm, topMargin=40 * mm, bottomMargin=15 * mm,
        title=f"Packing slip {slip.shipment_number}", creator="o2c",
    )
    width = pagesize[0] - 30 * mm

    def heading(c: canvas.Canvas, d) -> None:
        top = pagesize[1] - 15 * mm
        c.saveState()
        c.setFont("Helvetica-Bold", 14)
        c.drawString(15 * mm, top - 4 * mm, slip.company_name)
        c.setFont("Helvetica-Bold", 12)
        c.drawString(15 * mm, top - 11 * mm, "PACKING SLIP")
        c.setFont("Helvetica", 9)
        facts = [
            f"Order: {slip.order_number}",
            f"PO: {slip.po_number or '-'}",
            f"Shipment: {slip.shipment_number}",
            f"Ship date: {slip.ship_date.isoformat()}",
            f"Page {d.page}",
        ]
        for i, fact in enumerate(facts):
            c.drawRightString(pagesize[0] - 15 * mm, top - 4 * mm - i * 4.2 * mm, fact)
        c.restoreState()

    addresses = Table(
        [[_address_block("Ship from", slip.ship_from), _address_block("Ship to", slip.ship_to)]],
        colWidths=[width / 2] * 2,
    )
    header = ["SKU", "Description", "Ordered", "Shipped", "Backordered", "UoM"]
    rows = [header] + [
        [line.sku, _para(line.description), plain(line.ordered), plain(line.shipped), plain(line.backordered), line.uom]
        for line in slip.lines
    ]
    lines = Table(
        rows, repeatRows=1, colWidths=[0.16 * width, 0.42 * width, 0.1 * width, 0.1 * width, 0.12 * width, 0.1 * width],
        style=TableStyle(_GRID + [("ALIGN", (2, 0), (4, -1), "RIGHT")]),
    )
    total = sum((w for _, _, w in slip.packages), Decimal(0))
    package_rows = [["#", "SSCC", "Tracking number", "Weight (kg)"]] + [
        [str(i), sscc_hri(s) if s else "-", normalise(t) if t else "-", plain(w)]
        for i, (s, t, w) in enumerate(slip.packages, start=1)
    ] + [["", "", f"{len(slip.packages)} package(s)", plain(total)]]
    packages = Table(
        package_rows, repeatRows=1, colWidths=[0.06 * width, 0.4 * width, 0.38 * width, 0.16 * width],
        style=TableStyle(
            _GRID + [("ALIGN", (3, 0), (3, -1), "RIGHT"), ("FONT", (0, -1), (-1, -1), "Helvetica-Bold", 9)]
        ),
    )
    doc.build([addresses, Spacer(0, 6 * mm), lines, Spacer(0, 8 * mm), packages],
              onFirstPage=heading, onLaterPages=heading)
    return buf.getvalue()
