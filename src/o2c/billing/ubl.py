"""E-invoices: an invoice or credit note as UBL 2.1 following PEPPOL BIS Billing 3.0 (EN 16931). Pure.

`totals(doc)` computes the document totals with the EN 16931 calculation rules (BR-CO-*), and
`to_ubl(doc)` writes the UBL XML. Both first check the document and refuse, with one error per field,
anything the EN 16931 or PEPPOL rule sets would reject, so a document that passes here is one a
receiver accepts. The tests prove that against the official UBL 2.1 schema and the CEN and PEPPOL
Schematron rules (tests/billing/validation.py).

Rule ids in comments are from the EN 16931 (CEN-EN16931-UBL.sch) and PEPPOL BIS Billing 3.0
(PEPPOL-EN16931-UBL.sch) rule sets, github.com/OpenPEPPOL/peppol-bis-invoice-3, rules/sch/.
Business terms (BT-n) and groups (BG-n) are those of EN 16931-1:2017.

The VAT of a document is computed per VAT category and rate (BR-CO-17): the taxable amount of each
group times its rate, rounded half-up once. It can differ by a few cents from the sum of per-line tax
an order shows (docs/money.md); on an invoice, this figure is the legal one.
"""
from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import date
from decimal import Decimal

import pycountry
from lxml import etree
from stdnum import bic as stdnum_bic
from stdnum import iban as stdnum_iban
from stdnum.au import abn
from stdnum.be import vat as be_vat
from stdnum.no import orgnr as no_orgnr
from stdnum.se import orgnr as se_orgnr

from o2c.core.errors import ErrorList, FieldError, ValidationFailed
from o2c.core.money import ZERO, allocate, known_currencies, minor_units, plain, round_money

INVOICE, CREDIT_NOTE = "invoice", "credit_note"
KINDS = (INVOICE, CREDIT_NOTE)

CUSTOMIZATION_ID = "urn:cen.eu:en16931:2017#compliant#urn:fdc:peppol.eu:2017:poacc:billing:3.0"
PROFILE_ID = "urn:fdc:peppol.eu:2017:poacc:billing:01:1.0"
TYPE_CODE = {INVOICE: "380", CREDIT_NOTE: "381"}  # UNTDID 1001: commercial invoice, credit note

NS = {
    INVOICE: "urn:oasis:names:specification:ubl:schema:xsd:Invoice-2",
    CREDIT_NOTE: "urn:oasis:names:specification:ubl:schema:xsd:CreditNote-2",
    "cac": "urn:oasis:names:specification:ubl:schema:xsd:CommonAggregateComponents-2",
    "cbc": "urn:oasis:names:specification:ubl:schema:xsd:CommonBasicComponents-2",
}

# VAT category codes (UNCL 5305) this module writes. L and M (Canary Islands, Ceuta and Melilla) and
# B (Italian split payment) are not supported.
STANDARD, ZERO_RATED, EXEMPT, REVERSE_CHARGE, INTRA_EU, EXPORT, NOT_SUBJECT = (
    "S", "Z", "E", "AE", "K", "G", "O"
)
VAT_CATEGORIES = (STANDARD, ZERO_RATED, EXEMPT, REVERSE_CHARGE, INTRA_EU, EXPORT, NOT_SUBJECT)
# The categories whose VAT breakdown must carry an exemption reason (BR-E-10, BR-AE-10, BR-IC-10,
# BR-G-10, BR-O-10), with the VATEX code and text written when the document gives none. E has no
# default: the seller must say which exemption applies.
EXEMPTION_DEFAULTS: dict[str, tuple[str, str]] = {
    REVERSE_CHARGE: ("VATEX-EU-AE", "Reverse charge"),
    INTRA_EU: ("VATEX-EU-IC", "Intra-community supply"),
    EXPORT: ("VATEX-EU-G", "Export outside the EU"),
    NOT_SUBJECT: ("VATEX-EU-O", "Not subject to VAT"),
}
NEEDS_REASON = frozenset({EXEMPT, *EXEMPTION_DEFAULTS})
# A VATEX code that names one category may not be used with another (PEPPOL-EN16931-P0104..P0111).
_VATEX_OWN_CATEGORY = {code: cat for cat, (code, _) in EXEMPTION_DEFAULTS.items()} | {
    "VATEX-EU-D": EXEMPT, "VATEX-EU-F": EXEMPT, "VATEX-EU-I": EXEMPT, "VATEX-EU-J": EXEMPT,
}
_VATEX = re.compile(r"^VATEX-[A-Z0-9-]+$")
# Categories that need the seller's VAT identifier (BR-S-02, BR-Z-02, BR-E-02, BR-AE-02, BR-IC-02,
# BR-G-02); this module models no tax representative and no separate tax registration id.
NEEDS_SELLER_VAT = frozenset({STANDARD, ZERO_RATED, EXEMPT, REVERSE_CHARGE, INTRA_EU, EXPORT})

# Payment means codes (UNCL 4461) supported: cash, cheque, credit transfer, payment to bank account,
# SEPA credit transfer. Direct debit (49, 59) needs a mandate (PEPPOL-EN16931-R061) and card (48)
# card details: not modelled.
PAYMENT_MEANS = {"10": "Cash", "20": "Cheque", "30": "Credit transfer", "42": "Payment to bank account",
                 "58": "SEPA credit transfer"}
NEEDS_ACCOUNT = frozenset({"30", "42", "58"})  # BR-61 (30, 58); 42 is a transfer to an account too

# Document level allowance reason codes (UNCL 5189 subset, PEPPOL-EN16931-CL002).
ALLOWANCE_REASON_CODES = frozenset(
    "41 42 60 62 63 64 65 66 67 68 70 71 88 95 100 102 103 104 105".split()
)

# Electronic address schemes (EAS) PEPPOL accepts for an EndpointID (PEPPOL-EN16931-CL008, list as in
# PEPPOL-EN16931-UBL.sch of 2025-05). "EM" (e-mail) is not on it: PEPPOL does not deliver to e-mail.
EAS = frozenset("""
0002 0007 0009 0037 0060 0088 0096 0097 0106 0130 0135 0142 0151 0177 0183 0184 0188 0190 0191 0192
0193 0195 0196 0198 0199 0200 0201 0202 0204 0208 0209 0210 0211 0212 0213 0215 0216 0218 0221 0230
0235 9910 9913 9914 9915 9918 9919 9920 9922 9923 9924 9925 9926 9927 9928 9929 9930 9931 9932 9933
9934 9935 9936 9937 9938 9939 9940 9941 9942 9943 9944 9945 9946 9947 9948 9949 9950 9951 9952 9953
9957 9959 0147 0154 0158 0170 0194 0203 0205 0217 0225 0240
""".split())

# EN 16931 allows 0.02 between a line's net amount and quantity × net price (PEPPOL-EN16931-R120).
LINE_SLACK = Decimal("0.02")
ONE = Decimal(1)
MAX_PRICE_DECIMALS = 4
_UNIT_CODE = re.compile(r"^[A-Z0-9]{2,3}$")  # UN/ECE Recommendation 20 code shape (C62, KGM, H87)


def _gs1_ok(value: str) -> bool:
    """GS1 mod-10 check digit over any length, as PEPPOL's u:gln function checks it."""
    if not value.isdigit() or len(value) < 2:
        return False
    body, check = value[:-1], int(value[-1])
    total = sum(int(d) * (3 if i % 2 == 0 else 1) for i, d in enumerate(reversed(body)))
    return (10 - total % 10) % 10 == check


# Identifier schemes whose format PEPPOL checks as fatal (PEPPOL-COMMON-R040..R043, R049, R050), so a
# wrong number is refused here rather than by the receiver.
SCHEME_CHECKS = {
    "0088": ("a GLN with a valid GS1 check digit", _gs1_ok),
    "0192": ("a Norwegian organisation number (9 digits, mod 11)",
             lambda v: bool(re.fullmatch(r"[0-9]{9}", v)) and no_orgnr.is_valid(v)),
    "0184": ("a Danish CVR number (8 digits, or DK and 8 digits)",
             lambda v: bool(re.fullmatch(r"(DK)?[0-9]{8}", v))),
    "0208": ("a Belgian enterprise number (10 digits, mod 97)",
             lambda v: bool(re.fullmatch(r"[0-9]{10}", v)) and be_vat.is_valid(v)),
    "0007": ("a Swedish organisation number (10 digits)",
             lambda v: bool(re.fullmatch(r"[0-9]{10}", v)) and se_orgnr.is_valid(v)),
    "0151": ("an Australian Business Number (11 digits)",
             lambda v: bool(re.fullmatch(r"[0-9]{11}", v)) and abn.is_valid(v)),
}


# ---------------------------------------------------------------------------------------------------
# The document


@dataclass(frozen=True, kw_only=True)
class Party:
    """Seller (BG-4) or buyer (BG-7)."""

    name: str  # BT-27 / BT-44, the registered name
    street: str
    city: str
    postal_code: str  # may be empty where the country has no postal codes
    country: str  # ISO 3166-1 alpha-2
    vat_id: str | None  # BT-31 / BT-48, with its country prefix (DE123456789; Greece: EL)
    company_id: str | None  # BT-30 / BT-47, legal registration (e.g. the trade register number)
    endpoint_id: str  # BT-34 / BT-49, the electronic address the document is delivered to
    endpoint_scheme: str  # its EAS code: 0088 GLN, 0192 NO org. number, 9930 DE VAT, ...
    contact_email: str | None = None
    contact_name: str | None = None  # German B2B (DE-R-002, DE-R-005..007) needs name, phone, e-mail
    contact_phone: str | None = None
    company_id_scheme: str | None = None  # ISO 6523 ICD of company_id, when it has one


@dataclass(frozen=True, kw_only=True)
class DocLine:
    """One invoice or credit note line (BG-25)."""

    line_id: str  # BT-126, unique in the document
    sku: str  # BT-155, seller's item identifier
    name: str  # BT-153
    quantity: Decimal  # BT-129
    unit_code: str  # BT-130, UN/ECE Recommendation 20: C62 piece, KGM kilogram, H87 piece, ...
    unit_price: Decimal  # BT-146, net, up to 4 decimals, never negative (BR-27)
    net_amount: Decimal  # BT-131, quantity × unit price in the currency's minor units
    vat_category: str  # BT-151: S, Z, E, AE, K, G or O
    vat_rate_pct: Decimal  # BT-152: > 0 for S, 0 for every other category
    order_line_ref: str | None = None  # BT-132
    # BT-149: the quantity the price is for (a price of 379.96 for 1200 units), when no price per unit
    # of at most 4 decimals gives the net amount within PEPPOL-EN16931-R120's 0.02; same unit (R130).
    base_quantity: Decimal | None = None


@dataclass(frozen=True, kw_only=True)
class BillingReference:
    """The invoice a credit note corrects (BG-3)."""

    number: str  # BT-25
    issue_date: date | None = None  # BT-26


@dataclass(frozen=True, kw_only=True)
class PaymentMeans:
    """How the buyer pays (BG-16): code (UNCL 4461, see PAYMENT_MEANS) and the payee account."""

    code: str
    iban: str | None = None  # BT-84, payee account (an IBAN for SEPA, code 58)
    bic: str | None = None  # BT-86
    account_name: str | None = None  # BT-85
    payment_id: str | None = None  # BT-83, remittance information; the document number if not given


@dataclass(frozen=True, kw_only=True)
class DocumentAllowance:
    """A discount on the whole document (BG-20). It is split over the VAT groups in proportion to
    their line net amounts, so each rate's taxable amount is reduced by its share (BR-S-08)."""

    amount: Decimal
    reason: str  # BT-97
    reason_code: str = "95"  # BT-98, UNCL 5189: 95 discount


@dataclass(frozen=True, kw_only=True)
class Delivery:
    """Where and when the goods were delivered (BG-13, BG-15): the shipment the invoice comes from.
    An intra-community supply (K) needs the date and the country (BR-IC-11, BR-IC-12)."""

    date: date | None = None  # BT-72
    street: str | None = None
    city: str | None = None
    postal_code: str | None = None
    country: str | None = None  # BT-80, required when any address field is given (BR-57)


@dataclass(frozen=True, kw_only=True)
class Document:
    """An invoice or a credit note, as EN 16931 sees it."""

    kind: str  # "invoice" or "credit_note"
    number: str  # BT-1
    issue_date: date  # BT-2
    due_date: date | None  # BT-9
    currency: str  # BT-5, ISO 4217 with at most 2 minor units
    seller: Party
    buyer: Party
    lines: Sequence[DocLine]
    buyer_reference: str | None = None  # BT-10; this or order_reference (PEPPOL-EN16931-R003)
    order_reference: str | None = None  # BT-13, the buyer's purchase order number
    billing_reference: BillingReference | None = None  # required on a credit note
    payment_terms_text: str | None = None  # BT-20
    payment_means: PaymentMeans | None = None
    document_allowance: DocumentAllowance | None = None
    prepaid_amount: Decimal = ZERO  # BT-113
    note: str | None = None  # BT-22, one note (PEPPOL-EN16931-R002)
    # Exemption reason per category (BT-120 text, or a BT-121 VATEX code such as "VATEX-EU-132");
    # required for E, defaults for AE, K, G and O (EXEMPTION_DEFAULTS), refused for S and Z.
    vat_exemption_reasons: Mapping[str, str] = field(default_factory=dict)
    delivery: Delivery | None = None
    # The tax of a VAT group (category, rate) as charged, where the seller rounds tax per line: the
    # group's BT-117 is then this figure, which BR-CO-17 accepts within one unit of the currency from
    # taxable × rate. Groups not named here are computed (rounded once per group).
    vat_amounts: Mapping[tuple[str, Decimal], Decimal] = field(default_factory=dict)


# ---------------------------------------------------------------------------------------------------
# Totals


@dataclass(frozen=True)
class VatGroup:
    """One VAT breakdown (BG-23): all lines of one category and rate."""

    category: str
    rate: Decimal
    line_net: Decimal  # Σ line net amounts in the group
    allowance: Decimal  # the group's share of the document allowance
    taxable: Decimal  # BT-116 = line_net − allowance
    tax: Decimal  # BT-117 = taxable × rate / 100, rounded half-up once (BR-CO-17)


@dataclass(frozen=True)
class Totals:
    """Document totals (BG-22) and the VAT breakdown, in the document currency."""

    line_extension: Decimal  # BT-106 = Σ line net (BR-CO-10)
    allowance_total: Decimal  # BT-107 (BR-CO-11)
    tax_exclusive: Decimal  # BT-109 = line extension − allowances (BR-CO-13)
    tax: Decimal  # BT-110 = Σ group tax (BR-CO-14)
    tax_inclusive: Decimal  # BT-112 = tax exclusive + tax (BR-CO-15)
    prepaid: Decimal  # BT-113
    payable: Decimal  # BT-115 = tax inclusive − prepaid (BR-CO-16)
    vat: tuple[VatGroup, ...]


def line_net(quantity: Decimal, unit_price: Decimal, currency: str) -> Decimal:
    """A line's net amount: quantity × net price, rounded half-up to the currency's minor units."""
    return round_money(quantity * unit_price, currency)


def totals(doc: Document) -> Totals:
    """The EN 16931 totals of a document; ValidationFailed (every problem, by field) if it is not valid."""
    _raise_if_invalid(doc)
    return _totals(doc)


def _groups(lines: Sequence[DocLine]) -> dict[tuple[str, Decimal], Decimal]:
    """Σ line net per (category, rate), in the order the groups first appear."""
    nets: dict[tuple[str, Decimal], Decimal] = {}
    for line in lines:
        key = (line.vat_category, line.vat_rate_pct)
        nets[key] = nets.get(key, ZERO) + line.net_amount
    return nets


def _totals(doc: Document) -> Totals:
    cur = doc.currency
    nets = _groups(doc.lines)
    allowance = doc.document_allowance.amount if doc.document_allowance else ZERO
    shares = allocate(allowance, list(nets.values()), cur) if allowance else [ZERO] * len(nets)
    groups = []
    for ((category, rate), net), share in zip(nets.items(), shares):
        taxable = net - share
        tax = doc.vat_amounts.get((category, rate), round_money(taxable * rate / 100, cur))
        groups.append(VatGroup(category, rate, net, share, taxable, tax))
    line_extension = sum(nets.values(), ZERO)
    tax_exclusive = line_extension - allowance
    tax = sum((g.tax for g in groups), ZERO)
    tax_inclusive = tax_exclusive + tax
    return Totals(
        line_extension=line_extension,
        allowance_total=allowance,
        tax_exclusive=tax_exclusive,
        tax=tax,
        tax_inclusive=tax_inclusive,
        prepaid=doc.prepaid_amount,
        payable=tax_inclusive - doc.prepaid_amount,
        vat=tuple(groups),
    )


# ---------------------------------------------------------------------------------------------------
# Checks


def check_document(doc: Document) -> list[FieldError]:
    """Every reason the document cannot be issued as a PEPPOL BIS 3 e-invoice, one error per field."""
    errors = ErrorList()
    _check_header(doc, errors)
    _check_party(doc.seller, "seller", errors)
    _check_party(doc.buyer, "buyer", errors)
    lines_ok = _check_lines(doc, errors)
    if lines_ok:
        _check_vat(doc, errors)
        _check_amounts(doc, errors)
    _check_payment(doc, errors)
    _check_delivery(doc, errors)
    _check_german_b2b(doc, errors)
    return errors.items


def _raise_if_invalid(doc: Document) -> None:
    errors = check_document(doc)
    if errors:
        detail = errors[0].message if len(errors) == 1 else f"the {doc.kind} is not valid ({len(errors)} problems)"
        raise ValidationFailed(detail, errors)


def _blank(value: str | None) -> bool:
    return value is None or not str(value).strip()


def _is_decimal(value) -> bool:
    return isinstance(value, Decimal) and value.is_finite()


def _decimals(value: Decimal) -> int:
    return max(0, -value.as_tuple().exponent)


def _known_country(code: str | None) -> bool:
    # XI: Northern Ireland, in EN 16931's country list (BR-CL-14) though not in ISO 3166-1.
    return bool(code) and (code == "XI" or pycountry.countries.get(alpha_2=code) is not None)


def _check_header(doc: Document, errors: ErrorList) -> None:
    if doc.kind not in KINDS:
        errors.add("kind", "invalid", f"kind must be one of {', '.join(KINDS)}, not {doc.kind!r}")
    if _blank(doc.number):
        errors.add("number", "required", "the document needs a number")
    if not isinstance(doc.issue_date, date):
        errors.add("issue_date", "required", "the document needs an issue date")
    elif doc.due_date is not None and doc.due_date < doc.issue_date:
        errors.add("due_date", "before_issue", f"due date {doc.due_date} is before the issue date {doc.issue_date}")
    if doc.currency not in known_currencies():
        errors.add("currency", "unknown", f"{doc.currency!r} is not an ISO 4217 currency")
    elif minor_units(doc.currency) > 2:
        errors.add("currency", "unsupported", (
            f"{doc.currency} has {minor_units(doc.currency)} minor units; EN 16931 amounts carry at most 2 decimals"
        ))
    if _blank(doc.buyer_reference) and _blank(doc.order_reference):
        errors.add("buyer_reference", "required",
                   "a buyer reference or a purchase order reference is required (PEPPOL-EN16931-R003)")
    if doc.kind == CREDIT_NOTE:
        if doc.billing_reference is None or _blank(doc.billing_reference.number):
            errors.add("billing_reference", "required", "a credit note must name the invoice it corrects")
        if doc.due_date is not None and doc.payment_means is None:
            errors.add("due_date", "needs_payment_means",
                       "a credit note carries its due date in its payment means: give payment_means too")
    elif doc.billing_reference is not None and _blank(doc.billing_reference.number):
        errors.add("billing_reference.number", "required", "the preceding invoice needs its number (BR-55)")
    if doc.note is not None and not isinstance(doc.note, str):
        errors.add("note", "invalid", "the note is one text (PEPPOL-EN16931-R002 allows one note)")


def _check_party(party: Party, where: str, errors: ErrorList) -> None:
    for name in ("name", "street", "city"):
        if _blank(getattr(party, name)):
            errors.add(f"{where}.{name}", "required", f"the {where} needs a {name.replace('_', ' ')}")
    if not _known_country(party.country):
        errors.add(f"{where}.country", "invalid", f"{party.country!r} is not an ISO 3166-1 alpha-2 country code")
    # BR-CO-09: a VAT identifier starts with its country's ISO code (Greece: EL).
    if not _blank(party.vat_id) and not re.fullmatch(r"[A-Z]{2}[0-9A-Za-z+*.]{2,}", party.vat_id.strip()):
        errors.add(f"{where}.vat_id", "invalid",
                   f"VAT identifier {party.vat_id!r} must start with its two-letter country prefix (BR-CO-09)")
    if _blank(party.endpoint_id) or _blank(party.endpoint_scheme):
        rule = "PEPPOL-EN16931-R020" if where == "seller" else "PEPPOL-EN16931-R010"
        errors.add(f"{where}.endpoint_id", "required",
                   f"the {where} needs an electronic address and its scheme ({rule})")
    elif party.endpoint_scheme not in EAS:
        errors.add(f"{where}.endpoint_scheme", "invalid", (
            f"{party.endpoint_scheme!r} is not a PEPPOL electronic address scheme (PEPPOL-EN16931-CL008)"
        ))
    else:
        _check_scheme_value(party.endpoint_id.strip(), party.endpoint_scheme, f"{where}.endpoint_id", errors)
    if party.company_id_scheme is not None:
        if not re.fullmatch(r"[0-9]{4}", party.company_id_scheme):
            errors.add(f"{where}.company_id_scheme", "invalid",
                       f"{party.company_id_scheme!r} is not an ISO 6523 ICD code (4 digits, BR-CL-11)")
        elif _blank(party.company_id):
            errors.add(f"{where}.company_id", "required", "a company id scheme without a company id")
        else:
            _check_scheme_value(party.company_id.strip(), party.company_id_scheme, f"{where}.company_id", errors)


def _check_scheme_value(value: str, scheme: str, where: str, errors: ErrorList) -> None:
    if scheme in SCHEME_CHECKS:
        what, ok = SCHEME_CHECKS[scheme]
        if not ok(value):
            errors.add(where, "invalid", f"{value!r} is not {what} (scheme {scheme})")


def _check_lines(doc: Document, errors: ErrorList) -> bool:
    """Line by line; False when a line is too broken for the VAT and amount checks to make sense."""
    if not doc.lines:
        errors.add("lines", "required", "the document needs at least one line (BR-16)")
        return False
    before = len(errors.items)
    seen: set[str] = set()
    for i, line in enumerate(doc.lines):
        at = f"lines[{i}]"
        if _blank(line.line_id):
            errors.add(f"{at}.line_id", "required", "each line needs an identifier (BR-21)")
        elif line.line_id in seen:
            errors.add(f"{at}.line_id", "duplicate", f"line id {line.line_id!r} is used twice")
        seen.add(line.line_id)
        if _blank(line.name):
            errors.add(f"{at}.name", "required", "each line needs an item name (BR-25)")
        if not _UNIT_CODE.fullmatch(line.unit_code or ""):
            errors.add(f"{at}.unit_code", "invalid",
                       f"{line.unit_code!r} is not a UN/ECE Recommendation 20 unit code (e.g. C62, KGM)")
        if line.order_line_ref is not None and _blank(doc.order_reference):
            errors.add(f"{at}.order_line_ref", "needs_order_reference",
                       "a line referring to an order line needs the document's order_reference")
        if line.vat_category not in VAT_CATEGORIES:
            errors.add(f"{at}.vat_category", "unsupported",
                       f"VAT category {line.vat_category!r} is not one of {', '.join(VAT_CATEGORIES)}")
        _check_line_numbers(doc, line, at, errors)
    return len(errors.items) == before


def _check_line_numbers(doc: Document, line: DocLine, at: str, errors: ErrorList) -> None:
    numbers = {"quantity": line.quantity, "unit_price": line.unit_price,
               "net_amount": line.net_amount, "vat_rate_pct": line.vat_rate_pct}
    if line.base_quantity is not None:
        numbers["base_quantity"] = line.base_quantity
    bad = [name for name, value in numbers.items() if not _is_decimal(value)]
    for name in bad:
        errors.add(f"{at}.{name}", "not_decimal", f"{name} must be a Decimal (never a float)")
    if bad:
        return
    base = ONE if line.base_quantity is None else line.base_quantity
    if base <= 0:
        errors.add(f"{at}.base_quantity", "not_positive", "the base quantity must be above zero (PEPPOL-EN16931-R121)")
        return
    if line.unit_price < 0:
        errors.add(f"{at}.unit_price", "negative",
                   "the net price may not be negative (BR-27); use a negative quantity")
    if _decimals(line.unit_price) > MAX_PRICE_DECIMALS:
        errors.add(f"{at}.unit_price", "too_precise", f"the net price has more than {MAX_PRICE_DECIMALS} decimals")
    if doc.currency in known_currencies() and round_money(line.net_amount, doc.currency) != line.net_amount:
        errors.add(f"{at}.net_amount", "too_precise", f"the net amount is not in {doc.currency} minor units")
    elif abs(line.net_amount - line.quantity * line.unit_price / base) > LINE_SLACK:
        per = "" if line.base_quantity is None else f" / {plain(base)}"
        errors.add(f"{at}.net_amount", "mismatch", (
            f"net amount {plain(line.net_amount)} is not quantity × price "
            f"({plain(line.quantity)} × {plain(line.unit_price)}{per}) (PEPPOL-EN16931-R120)"
        ))
    if line.vat_category == STANDARD and not line.vat_rate_pct > 0:
        errors.add(f"{at}.vat_rate_pct", "invalid", "a standard rated line needs a rate above zero (BR-S-05)")
    elif line.vat_category != STANDARD and line.vat_rate_pct != 0:
        errors.add(f"{at}.vat_rate_pct", "invalid",
                   f"category {line.vat_category} lines carry a VAT rate of 0, not {plain(line.vat_rate_pct)}")
    if line.vat_rate_pct > 100:
        errors.add(f"{at}.vat_rate_pct", "invalid", "a VAT rate above 100 %")


def _check_vat(doc: Document, errors: ErrorList) -> None:
    used = {line.vat_category for line in doc.lines}
    if NOT_SUBJECT in used and len(used) > 1:
        errors.add("lines", "mixed_with_o", "lines not subject to VAT (O) cannot share a document with "
                   "other VAT categories (BR-O-11..14)")
    if used & NEEDS_SELLER_VAT and _blank(doc.seller.vat_id):
        cats = ", ".join(sorted(used & NEEDS_SELLER_VAT))
        errors.add("seller.vat_id", "required", f"VAT category {cats} needs the seller's VAT identifier")
    if NOT_SUBJECT in used and _blank(doc.seller.company_id):
        # The VAT ids are left out of an O document (BR-O-02), so the seller is identified by its
        # legal registration (BR-CO-26).
        errors.add("seller.company_id", "required",
                   "a document not subject to VAT needs the seller's company id (BR-CO-26)")
    if INTRA_EU in used and _blank(doc.buyer.vat_id):
        errors.add("buyer.vat_id", "required",
                   "an intra-community supply (K) needs the buyer's VAT identifier (BR-IC-02)")
    if REVERSE_CHARGE in used and _blank(doc.buyer.vat_id) and _blank(doc.buyer.company_id):
        errors.add("buyer.vat_id", "required",
                   "reverse charge (AE) needs the buyer's VAT identifier or legal registration (BR-AE-02)")
    if INTRA_EU in used and (doc.delivery is None or doc.delivery.date is None or _blank(doc.delivery.country)):
        errors.add("delivery", "required",
                   "an intra-community supply (K) needs the delivery date and country (BR-IC-11, BR-IC-12)")
    for category, reason in doc.vat_exemption_reasons.items():
        at = f"vat_exemption_reasons.{category}"
        if category in (STANDARD, ZERO_RATED):
            errors.add(at, "not_allowed", f"category {category} takes no exemption reason (BR-{category}-10)")
        elif _blank(reason):
            errors.add(at, "required", "an exemption reason may not be blank")
        elif _VATEX.fullmatch(reason.strip()) and _VATEX_OWN_CATEGORY.get(reason.strip(), category) != category:
            errors.add(at, "wrong_code", f"{reason} is the code of category {_VATEX_OWN_CATEGORY[reason.strip()]}")
    if EXEMPT in used and _blank(doc.vat_exemption_reasons.get(EXEMPT)):
        errors.add(f"vat_exemption_reasons.{EXEMPT}", "required",
                   "exempt lines (E) need the exemption reason, a text or a VATEX code (BR-E-10)")


def _check_amounts(doc: Document, errors: ErrorList) -> None:
    cur = doc.currency
    if cur not in known_currencies():
        return
    before = len(errors.items)
    if doc.document_allowance is not None:
        _check_allowance(doc, doc.document_allowance, errors)
    if doc.vat_amounts and len(errors.items) == before:
        _check_vat_amounts(doc, errors)
    if not _is_decimal(doc.prepaid_amount):
        errors.add("prepaid_amount", "not_decimal", "the prepaid amount must be a Decimal")
    elif doc.prepaid_amount < 0 or round_money(doc.prepaid_amount, cur) != doc.prepaid_amount:
        errors.add("prepaid_amount", "invalid", f"the prepaid amount must be zero or more, in {cur} minor units")
    if doc.kind == INVOICE and len(errors.items) == before:
        # BR-CO-25: an amount to pay needs a due date or payment terms.
        if _totals(doc).payable > 0 and doc.due_date is None and _blank(doc.payment_terms_text):
            errors.add("due_date", "required",
                       "an invoice with an amount due needs a due date or payment terms (BR-CO-25)")


def _check_vat_amounts(doc: Document, errors: ErrorList) -> None:
    """Tax given per group: of a group the document has, in minor units, less than one unit of the
    currency from taxable × rate (BR-CO-17)."""
    cur = doc.currency
    computed = {(g.category, g.rate): g for g in _totals(replace(doc, vat_amounts={})).vat}
    for key, tax in doc.vat_amounts.items():
        if not (isinstance(key, tuple) and len(key) == 2):
            errors.add("vat_amounts", "invalid", f"{key!r} is not a (category, rate) pair")
            continue
        at = f"vat_amounts.{key[0]}" + (f"@{plain(key[1])}" if _is_decimal(key[1]) else "")
        if key not in computed:
            errors.add(at, "unknown_group", f"no line has VAT category and rate {key!r}")
        elif not _is_decimal(tax) or round_money(tax, cur) != tax:
            errors.add(at, "invalid", f"the group's tax must be a Decimal in {cur} minor units")
        elif abs(tax - computed[key].tax) >= 1:
            errors.add(at, "mismatch", (
                f"tax {plain(tax)} is not within one {cur} of taxable {plain(computed[key].taxable)} × "
                f"{plain(key[1])} % = {plain(computed[key].tax)} (BR-CO-17)"
            ))


def _check_allowance(doc: Document, allowance: DocumentAllowance, errors: ErrorList) -> None:
    cur = doc.currency
    if _blank(allowance.reason):
        errors.add("document_allowance.reason", "required", "an allowance needs a reason (BR-33)")
    if allowance.reason_code not in ALLOWANCE_REASON_CODES:
        errors.add("document_allowance.reason_code", "invalid",
                   f"{allowance.reason_code!r} is not an allowance reason code (UNCL 5189, PEPPOL-EN16931-CL002)")
    line_extension = sum((line.net_amount for line in doc.lines), ZERO)
    if not _is_decimal(allowance.amount):
        errors.add("document_allowance.amount", "not_decimal", "the allowance must be a Decimal")
    elif allowance.amount <= 0 or round_money(allowance.amount, cur) != allowance.amount:
        errors.add("document_allowance.amount", "invalid",
                   f"the allowance must be above zero and in {cur} minor units")
    elif allowance.amount > line_extension:
        errors.add("document_allowance.amount", "too_large",
                   f"the allowance {plain(allowance.amount)} exceeds the lines' net total {plain(line_extension)}")
    elif any(net < 0 for net in _groups(doc.lines).values()):
        errors.add("document_allowance", "negative_group",
                   "an allowance cannot be split over a VAT group whose lines add up to less than zero")


def _check_payment(doc: Document, errors: ErrorList) -> None:
    means = doc.payment_means
    if means is None:
        return
    if means.code not in PAYMENT_MEANS:
        errors.add("payment_means.code", "unsupported", (
            f"payment means {means.code!r} is not one of "
            + ", ".join(f"{c} ({n})" for c, n in PAYMENT_MEANS.items())
        ))
        return
    if means.code in NEEDS_ACCOUNT and _blank(means.iban):
        errors.add("payment_means.iban", "required", f"{PAYMENT_MEANS[means.code]} needs the payee account (BR-61)")
    elif means.code == "58" and not stdnum_iban.is_valid(means.iban):
        errors.add("payment_means.iban", "invalid", f"{means.iban!r} is not a valid IBAN (SEPA credit transfer)")
    if not _blank(means.bic) and not stdnum_bic.is_valid(means.bic):
        errors.add("payment_means.bic", "invalid", f"{means.bic!r} is not a valid BIC")


def _check_delivery(doc: Document, errors: ErrorList) -> None:
    d = doc.delivery
    if d is None:
        return
    has_address = any(not _blank(v) for v in (d.street, d.city, d.postal_code, d.country))
    if has_address and not _known_country(d.country):
        errors.add("delivery.country", "invalid",
                   f"a delivery address needs an ISO 3166-1 alpha-2 country code, not {d.country!r} (BR-57)")
    if d.date is None and not has_address:
        errors.add("delivery", "empty", "a delivery needs a date or an address; leave it out otherwise")


def _check_german_b2b(doc: Document, errors: ErrorList) -> None:
    """PEPPOL's German national rules, for a German seller invoicing a German buyer (DE-R-*, fatal in
    PEPPOL-EN16931-UBL.sch of 2025; the other national rule sets, e.g. NL, IT, SE, are not checked)."""
    if not (doc.seller.country == "DE" and doc.buyer.country == "DE"):
        return
    if doc.payment_means is None:
        errors.add("payment_means", "required", "a German B2B document needs payment instructions (DE-R-001)")
    if _blank(doc.buyer_reference):
        errors.add("buyer_reference", "required", "a German B2B document needs the buyer reference (DE-R-015)")
    for name in ("contact_name", "contact_phone", "contact_email"):
        if _blank(getattr(doc.seller, name)):
            errors.add(f"seller.{name}", "required",
                       f"a German B2B document needs the seller's {name.replace('_', ' ')} (DE-R-002, DE-R-005..007)")
    if _blank(doc.seller.postal_code) or _blank(doc.buyer.postal_code):
        errors.add("seller.postal_code" if _blank(doc.seller.postal_code) else "buyer.postal_code", "required",
                   "a German B2B document needs both parties' post codes (DE-R-004, DE-R-009)")
    d = doc.delivery
    if d is not None and not _blank(d.country) and (_blank(d.city) or _blank(d.postal_code)):
        errors.add("delivery.city", "required",
                   "a German B2B delivery address needs its city and post code (DE-R-010, DE-R-011)")


# ---------------------------------------------------------------------------------------------------
# UBL writer


def to_ubl(doc: Document) -> bytes:
    """The document as UBL 2.1 XML (UTF-8), PEPPOL BIS Billing 3.0; ValidationFailed if it is not valid."""
    _raise_if_invalid(doc)
    t = _totals(doc)
    w = _Writer(doc)
    root = etree.Element(f"{{{NS[doc.kind]}}}{'Invoice' if doc.kind == INVOICE else 'CreditNote'}",
                         nsmap={None: NS[doc.kind], "cac": NS["cac"], "cbc": NS["cbc"]})
    # Element order is the schema's (UBL-Invoice-2.1.xsd, UBL-CreditNote-2.1.xsd).
    w.add(root, "cbc:CustomizationID", CUSTOMIZATION_ID)
    w.add(root, "cbc:ProfileID", PROFILE_ID)
    w.add(root, "cbc:ID", doc.number)
    w.add(root, "cbc:IssueDate", doc.issue_date.isoformat())
    if doc.kind == INVOICE:
        w.add(root, "cbc:DueDate", doc.due_date and doc.due_date.isoformat())
        w.add(root, "cbc:InvoiceTypeCode", TYPE_CODE[INVOICE])
    else:
        w.add(root, "cbc:CreditNoteTypeCode", TYPE_CODE[CREDIT_NOTE])
    w.add(root, "cbc:Note", doc.note)
    w.add(root, "cbc:DocumentCurrencyCode", doc.currency)
    w.add(root, "cbc:BuyerReference", doc.buyer_reference)
    if not _blank(doc.order_reference):
        w.add(w.add(root, "cac:OrderReference"), "cbc:ID", doc.order_reference)
    if doc.billing_reference is not None:
        ref = w.add(w.add(root, "cac:BillingReference"), "cac:InvoiceDocumentReference")
        w.add(ref, "cbc:ID", doc.billing_reference.number)
        w.add(ref, "cbc:IssueDate", doc.billing_reference.issue_date and doc.billing_reference.issue_date.isoformat())
    with_vat_ids = all(g.category != NOT_SUBJECT for g in t.vat)  # BR-O-02
    w.party(w.add(root, "cac:AccountingSupplierParty"), doc.seller, with_vat_ids)
    w.party(w.add(root, "cac:AccountingCustomerParty"), doc.buyer, with_vat_ids)
    w.delivery(root, doc.delivery)
    w.payment_means(root, doc)
    if not _blank(doc.payment_terms_text):
        w.add(w.add(root, "cac:PaymentTerms"), "cbc:Note", doc.payment_terms_text)
    w.allowances(root, doc.document_allowance, t.vat)
    w.tax_total(root, t.vat, t.tax)
    w.monetary_total(root, t)
    for line in doc.lines:
        w.line(root, line)
    return b'<?xml version="1.0" encoding="UTF-8"?>\n' + etree.tostring(
        root, xml_declaration=False, encoding="UTF-8", pretty_print=True
    )


class _Writer:
    """Builds the elements of one document; empty values are left out (PEPPOL-EN16931-R008)."""

    def __init__(self, doc: Document):
        self.doc = doc

    def add(self, parent, tag: str, text=None, **attrs):
        """A child element `prefix:Name`; text None or blank writes nothing and returns None."""
        prefix, name = tag.split(":")
        if prefix == "cbc":
            if text is None or not str(text).strip():
                return None
        el = etree.SubElement(parent, f"{{{NS[prefix]}}}{name}", {k: v for k, v in attrs.items() if v})
        if text is not None:
            el.text = str(text).strip()
        return el

    def amount(self, parent, tag: str, value: Decimal):
        # Two decimals on every amount (BR-DEC-*), in the document currency (PEPPOL-EN16931-R051).
        return self.add(parent, tag, f"{value:.2f}", currencyID=self.doc.currency)

    def tax_category(self, parent, tag: str, category: str, rate: Decimal, reason: bool = False):
        cat = self.add(parent, tag)
        self.add(cat, "cbc:ID", category)
        if category != NOT_SUBJECT:  # BR-O-05..07: no rate on O
            self.add(cat, "cbc:Percent", plain(rate))
        if reason:
            code, text = self.exemption(category)
            self.add(cat, "cbc:TaxExemptionReasonCode", code)
            self.add(cat, "cbc:TaxExemptionReason", text)
        self.add(self.add(cat, "cac:TaxScheme"), "cbc:ID", "VAT")

    def exemption(self, category: str) -> tuple[str | None, str | None]:
        """(code, text) of the category's exemption reason: given, else the default; none for S and Z."""
        if category not in NEEDS_REASON:
            return None, None
        given = (self.doc.vat_exemption_reasons.get(category) or "").strip()
        default_code, default_text = EXEMPTION_DEFAULTS.get(category, (None, None))
        if _VATEX.fullmatch(given):
            return given, None
        return (default_code, given) if given else (default_code, default_text)

    def party(self, parent, p: Party, with_vat_id: bool) -> None:
        party = self.add(parent, "cac:Party")
        self.add(party, "cbc:EndpointID", p.endpoint_id, schemeID=p.endpoint_scheme)
        addr = self.add(party, "cac:PostalAddress")
        self.add(addr, "cbc:StreetName", p.street)
        self.add(addr, "cbc:CityName", p.city)
        self.add(addr, "cbc:PostalZone", p.postal_code)
        self.add(self.add(addr, "cac:Country"), "cbc:IdentificationCode", p.country)
        if with_vat_id and not _blank(p.vat_id):
            scheme = self.add(party, "cac:PartyTaxScheme")
            self.add(scheme, "cbc:CompanyID", p.vat_id)
            self.add(self.add(scheme, "cac:TaxScheme"), "cbc:ID", "VAT")
        legal = self.add(party, "cac:PartyLegalEntity")
        self.add(legal, "cbc:RegistrationName", p.name)
        self.add(legal, "cbc:CompanyID", p.company_id, schemeID=p.company_id_scheme)
        if not all(_blank(v) for v in (p.contact_name, p.contact_phone, p.contact_email)):
            contact = self.add(party, "cac:Contact")
            self.add(contact, "cbc:Name", p.contact_name)
            self.add(contact, "cbc:Telephone", p.contact_phone)
            self.add(contact, "cbc:ElectronicMail", p.contact_email)

    def delivery(self, parent, d: Delivery | None) -> None:
        if d is None:
            return
        el = self.add(parent, "cac:Delivery")
        self.add(el, "cbc:ActualDeliveryDate", d.date and d.date.isoformat())
        if not _blank(d.country):
            addr = self.add(self.add(el, "cac:DeliveryLocation"), "cac:Address")
            self.add(addr, "cbc:StreetName", d.street)
            self.add(addr, "cbc:CityName", d.city)
            self.add(addr, "cbc:PostalZone", d.postal_code)
            self.add(self.add(addr, "cac:Country"), "cbc:IdentificationCode", d.country)

    def payment_means(self, parent, doc: Document) -> None:
        means = doc.payment_means
        if means is None:
            return
        el = self.add(parent, "cac:PaymentMeans")
        self.add(el, "cbc:PaymentMeansCode", means.code, name=PAYMENT_MEANS[means.code])
        if doc.kind == CREDIT_NOTE:  # a CreditNote has no DueDate of its own (BT-9 binding)
            self.add(el, "cbc:PaymentDueDate", doc.due_date and doc.due_date.isoformat())
        self.add(el, "cbc:PaymentID", means.payment_id or doc.number)
        if not _blank(means.iban):
            account = self.add(el, "cac:PayeeFinancialAccount")
            self.add(account, "cbc:ID", re.sub(r"\s+", "", means.iban))
            self.add(account, "cbc:Name", means.account_name)
            if not _blank(means.bic):
                self.add(self.add(account, "cac:FinancialInstitutionBranch"), "cbc:ID", means.bic)

    def allowances(self, parent, allowance: DocumentAllowance | None, groups: Sequence[VatGroup]) -> None:
        """One AllowanceCharge per VAT group with a share of the allowance (BT-95, BT-96 per rate)."""
        if allowance is None:
            return
        for g in groups:
            if g.allowance == 0:
                continue
            el = self.add(parent, "cac:AllowanceCharge")
            self.add(el, "cbc:ChargeIndicator", "false")
            self.add(el, "cbc:AllowanceChargeReasonCode", allowance.reason_code)
            self.add(el, "cbc:AllowanceChargeReason", allowance.reason)
            self.amount(el, "cbc:Amount", g.allowance)
            self.tax_category(el, "cac:TaxCategory", g.category, g.rate)

    def tax_total(self, parent, groups: Sequence[VatGroup], tax: Decimal) -> None:
        total = self.add(parent, "cac:TaxTotal")  # exactly one, with subtotals (PEPPOL-EN16931-R053)
        self.amount(total, "cbc:TaxAmount", tax)
        for g in groups:
            sub = self.add(total, "cac:TaxSubtotal")
            self.amount(sub, "cbc:TaxableAmount", g.taxable)
            self.amount(sub, "cbc:TaxAmount", g.tax)
            self.tax_category(sub, "cac:TaxCategory", g.category, g.rate, reason=True)

    def monetary_total(self, parent, t: Totals) -> None:
        el = self.add(parent, "cac:LegalMonetaryTotal")
        self.amount(el, "cbc:LineExtensionAmount", t.line_extension)
        self.amount(el, "cbc:TaxExclusiveAmount", t.tax_exclusive)
        self.amount(el, "cbc:TaxInclusiveAmount", t.tax_inclusive)
        if t.allowance_total:
            self.amount(el, "cbc:AllowanceTotalAmount", t.allowance_total)
        if t.prepaid:
            self.amount(el, "cbc:PrepaidAmount", t.prepaid)
        self.amount(el, "cbc:PayableAmount", t.payable)

    def line(self, parent, line: DocLine) -> None:
        invoice = self.doc.kind == INVOICE
        el = self.add(parent, "cac:InvoiceLine" if invoice else "cac:CreditNoteLine")
        self.add(el, "cbc:ID", line.line_id)
        self.add(el, "cbc:InvoicedQuantity" if invoice else "cbc:CreditedQuantity", plain(line.quantity),
                 unitCode=line.unit_code)
        self.amount(el, "cbc:LineExtensionAmount", line.net_amount)
        if not _blank(line.order_line_ref):
            self.add(self.add(el, "cac:OrderLineReference"), "cbc:LineID", line.order_line_ref)
        item = self.add(el, "cac:Item")
        self.add(item, "cbc:Name", line.name)
        if not _blank(line.sku):
            self.add(self.add(item, "cac:SellersItemIdentification"), "cbc:ID", line.sku)
        self.tax_category(item, "cac:ClassifiedTaxCategory", line.vat_category, line.vat_rate_pct)
        price = self.add(el, "cac:Price")
        self.add(price, "cbc:PriceAmount", _price_text(line.unit_price), currencyID=self.doc.currency)
        if line.base_quantity is not None:
            self.add(price, "cbc:BaseQuantity", plain(line.base_quantity), unitCode=line.unit_code)


def _price_text(price: Decimal) -> str:
    """A net price with at least 2 decimals and no trailing zeros beyond them: 12.50, 0.3333."""
    text = plain(price)
    decimals = len(text.split(".")[1]) if "." in text else 0
    return f"{price:.{max(2, decimals)}f}"
