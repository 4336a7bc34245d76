"""Carrier tracking numbers, pure: check digits, recognition, generation and tracking-page links.

Layouts and check digits: docs STANDARDS §11 (the three rules marked there as verified: UPS 1Z,
FedEx Express 12, UPU S10), GS1 General Specifications (mod-10 weights 3/1), USPS Publication 199
(IMpb), UPU standard S10. The rules below were written here and checked against the MIT-licensed
test numbers of github.com/jkeen/tracking_number_data (tests/fixtures/11-shipping/).

Four check-digit families cover every format:
* mod 10, weights 1,2 from the left, letters valued (ord - 63) mod 10 (UPS; OnTrac counts its
  leading letter the same way). A weight of 2 misses a digit changed by 5.
* GS1 mod 10, weights 3,1 from the rightmost data digit (FedEx Ground, USPS, SSCC). 3 and 1 are both
  prime to 10, so every single-digit change is caught.
* mod 11 then mod 10, weights 1,3,7 from the rightmost data digit (FedEx Express and the FedEx
  barcodes that embed an Express number). Sums 0 and 10 share check digit 0, so some changes slip.
* mod 7 of the number (DHL Express) misses changes by 7; UPU S10 maps two remainders to check 5.

Numbers are compared after `normalise` (spaces and dashes removed, upper case).
"""
from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import quote

import pycountry


@dataclass(frozen=True)
class TrackingFormat:
    name: str
    carrier: str
    check: str | None  # the check-digit rule in a few words; None = recognised by its layout only


FORMATS: dict[str, TrackingFormat] = {
    "ups": TrackingFormat("UPS 1Z", "UPS", "mod 10, weights 1,2"),
    "ups_waybill": TrackingFormat("UPS waybill (letter + 10 digits)", "UPS", "mod 10, weights 1,2"),
    "fedex_express": TrackingFormat("FedEx Express (12 digits)", "FedEx", "mod 11 mod 10, weights 1,3,7"),
    "fedex_express_34": TrackingFormat("FedEx Express barcode (34 digits)", "FedEx", "mod 11 mod 10, weights 1,3,7"),
    "fedex_astra": TrackingFormat("FedEx ASTRA barcode (32 digits)", "FedEx", "mod 11 mod 10, weights 1,3,7"),
    "fedex_ground": TrackingFormat("FedEx Ground (15 digits)", "FedEx", "GS1 mod 10"),
    "fedex_ground_96": TrackingFormat("FedEx Ground barcode 96 (22 digits)", "FedEx", "GS1 mod 10"),
    "fedex_ground_gsn": TrackingFormat("FedEx Ground GSN barcode (34 digits)", "FedEx", "mod 11 mod 10, weights 1,3,7"),
    "fedex_ground_sscc": TrackingFormat("FedEx Ground SSCC-18", "FedEx", "GS1 mod 10"),
    "usps_impb": TrackingFormat("USPS Intelligent Mail package barcode", "USPS", "GS1 mod 10"),
    "usps_legacy": TrackingFormat("USPS 91 / 20-digit confirmation", "USPS", "GS1 mod 10 (with 91)"),
    "usps_20": TrackingFormat("USPS 20-digit", "USPS", "GS1 mod 10"),
    "dhl_express": TrackingFormat("DHL Express waybill (10-11 digits)", "DHL", "mod 7"),
    "dhl_express_piece": TrackingFormat("DHL Express piece ID (J...)", "DHL", None),
    "ontrac": TrackingFormat("OnTrac (C/D + 14 digits)", "OnTrac", "mod 10, weights 1,2"),
    "amazon_logistics": TrackingFormat("Amazon Logistics (TBA/TBC/TBM)", "Amazon", None),
    "s10": TrackingFormat("UPU S10 international postal item", "postal service", "mod 11, weights 8,6,4,2,3,5,9,7"),
}


def normalise(number: str) -> str:
    """The number as carriers print it without grouping: no whitespace or dashes, upper case."""
    return re.sub(r"[\s\-]", "", number).upper()


# --- check digits -----------------------------------------------------------------------------

def _char_value(c: str) -> int:
    # UPS assigns letters digit values: (ord - 63) mod 10, so A=2, B=3 ... H=9, I=0 (STANDARDS §11).
    return int(c) if c.isdigit() else (ord(c) - 63) % 10


def mod10_weights_12(chars: str) -> int:
    """Check digit for weights 1,2 from the left (products added as they are, not digit-summed)."""
    total = sum(_char_value(c) * (1 if i % 2 == 0 else 2) for i, c in enumerate(chars))
    return (10 - total % 10) % 10


def gs1_mod10(digits: str) -> int:
    """GS1 check digit: weights 3,1,3,... from the rightmost data digit."""
    total = sum(int(d) * (3 if i % 2 == 0 else 1) for i, d in enumerate(reversed(digits)))
    return (10 - total % 10) % 10


def fedex_mod11(digits: str) -> int:
    """FedEx Express: weights 1,3,7 repeating from the rightmost data digit; check = sum mod 11 mod 10.

    Read from the left, an 11-digit number gets 3,1,7,3,1,7,... (STANDARDS §11).
    """
    weights = (1, 3, 7)
    return sum(int(d) * weights[i % 3] for i, d in enumerate(reversed(digits))) % 11 % 10


def s10_check(digits: str) -> int:
    """UPU S10 check digit over the 8 serial digits: c = 11 - sum mod 11; 10 -> 0, 11 -> 5."""
    c = 11 - sum(int(d) * w for d, w in zip(digits, (8, 6, 4, 2, 3, 5, 9, 7))) % 11
    return {10: 0, 11: 5}.get(c, c)


def mod7(digits: str) -> int:
    """DHL Express: the check digit is the rest of the number mod 7."""
    return int(digits) % 7


# --- one validator per format ------------------------------------------------------------------

def _ends_with(n: str, start: int, end: int, check: Callable[[str], int]) -> bool:
    """True if the digit at `end` is the check digit of n[start:end]."""
    return n[end].isdigit() and check(n[start:end]) == int(n[end])


def _ups(n: str) -> bool:
    # 1Z + 6 shipper + 2 service + 7 package (letters allowed) + check over those 15.
    return bool(re.fullmatch(r"1Z[0-9A-Z]{15}[0-9]", n)) and _ends_with(n, 2, 17, mod10_weights_12)


def _ups_waybill(n: str) -> bool:
    # A service letter, 9 digits, check over the digits.
    return bool(re.fullmatch(r"[AHJKTV][0-9]{10}", n)) and _ends_with(n, 1, 10, mod10_weights_12)


def _fedex_express(n: str) -> bool:
    return bool(re.fullmatch(r"[0-9]{12}", n)) and _ends_with(n, 0, 11, fedex_mod11)


def _fedex_express_34(n: str) -> bool:
    # 34 digits, the last 14 being 2 + a 12-digit Express number; the check covers those 13 + check.
    return bool(re.fullmatch(r"[0-8][0-9]{33}", n)) and _ends_with(n, 20, 33, fedex_mod11)


def _fedex_astra(n: str) -> bool:
    # 32 digits starting 3; positions 17-28 hold an Express number and its check digit.
    return bool(re.fullmatch(r"3[0-9]{31}", n)) and _ends_with(n, 16, 27, fedex_mod11)


def _fedex_ground(n: str) -> bool:
    return bool(re.fullmatch(r"[0-9]{15}", n)) and _ends_with(n, 0, 14, gs1_mod10)


def _fedex_ground_96(n: str) -> bool:
    # 96 + 2 SCNC + 3 service + the 15-digit Ground number, whose own check digit ends the barcode.
    return bool(re.fullmatch(r"96[0-9]{20}", n)) and _ends_with(n, 7, 21, gs1_mod10)


def _fedex_ground_gsn(n: str) -> bool:
    # 96 + 2 SCNC + 5 + 10-digit Ground shipper number + 1 + 13 + check (FedEx Express rule).
    return bool(re.fullmatch(r"96[0-9]{32}", n)) and _ends_with(n, 20, 33, fedex_mod11)


def _sscc18(n: str) -> bool:
    return bool(re.fullmatch(r"[0-9]{18}", n)) and _ends_with(n, 0, 17, gs1_mod10)


def _usps_routing_splits(n: str) -> list[str]:
    """The number itself, and what follows an IMpb routing prefix (420 + 5- or 9-digit ZIP)."""
    tails = [n]
    if n.startswith("420"):
        tails += [n[8:], n[12:]]
    return tails


def _impb_tracking(n: str) -> bool:
    # Publication 199: application identifier 92-95, 3-digit service type code, mailer ID (9 digits
    # starting with 9, or 6 digits otherwise), package serial, check; 22 or 26 digits in all.
    # 92 is issued with a 9-digit mailer ID and 93 with a 6-digit one.
    if not re.fullmatch(r"9[2-5][0-9]{20}([0-9]{4})?", n):
        return False
    nine_digit_mid = n[5] == "9"
    if (n.startswith("92") and not nine_digit_mid) or (n.startswith("93") and nine_digit_mid):
        return False
    return _ends_with(n, 0, len(n) - 1, gs1_mod10)


def _usps_impb(n: str) -> bool:
    return n.isdigit() and any(_impb_tracking(t) for t in _usps_routing_splits(n))


def _usps_legacy_tracking(n: str) -> bool:
    # 91 + 2 service + 9 shipper + 8 package + check; printed without the 91 the check digit still
    # covers it, so a 20-digit number is checked as if 91 came first.
    if re.fullmatch(r"91[0-9]{20}", n):
        return _ends_with(n, 0, 21, gs1_mod10)
    if re.fullmatch(r"[0-9]{20}", n):
        return _ends_with("91" + n, 0, 21, gs1_mod10)
    return False


def _usps_legacy(n: str) -> bool:
    return n.isdigit() and any(_usps_legacy_tracking(t) for t in _usps_routing_splits(n))


def _usps_20(n: str) -> bool:
    return bool(re.fullmatch(r"[0-9]{20}", n)) and _ends_with(n, 0, 19, gs1_mod10)


def _dhl_express(n: str) -> bool:
    return bool(re.fullmatch(r"[0-9]{10,11}", n)) and _ends_with(n, 0, len(n) - 1, mod7)


def _dhl_express_piece(n: str) -> bool:
    return bool(re.fullmatch(r"J[A-Z]{2,3}[0-9]{9,10}", n))


def _ontrac(n: str) -> bool:
    # C or D + 13 digits + check; the letter counts in the sum with its UPS value (C=4, D=5).
    return bool(re.fullmatch(r"[CD][0-9]{14}", n)) and _ends_with(n, 0, 14, mod10_weights_12)


def _amazon_logistics(n: str) -> bool:
    return bool(re.fullmatch(r"TB[ACM][0-9]{12}", n))


def _is_country(code: str) -> bool:
    return pycountry.countries.get(alpha_2=code) is not None


def _s10(n: str) -> bool:
    # 2 service letters + 8 serial digits + check + ISO 3166 code of the issuing country.
    return (
        bool(re.fullmatch(r"[A-Z]{2}[0-9]{9}[A-Z]{2}", n))
        and _ends_with(n, 2, 10, s10_check)
        and _is_country(n[11:])
    )


_VALIDATORS: dict[str, Callable[[str], bool]] = {
    "ups": _ups,
    "ups_waybill": _ups_waybill,
    "fedex_express": _fedex_express,
    "fedex_express_34": _fedex_express_34,
    "fedex_astra": _fedex_astra,
    "fedex_ground": _fedex_ground,
    "fedex_ground_96": _fedex_ground_96,
    "fedex_ground_gsn": _fedex_ground_gsn,
    "fedex_ground_sscc": _sscc18,
    "usps_impb": _usps_impb,
    "usps_legacy": _usps_legacy,
    "usps_20": _usps_20,
    "dhl_express": _dhl_express,
    "dhl_express_piece": _dhl_express_piece,
    "ontrac": _ontrac,
    "amazon_logistics": _amazon_logistics,
    "s10": _s10,
}
assert _VALIDATORS.keys() == FORMATS.keys()


def _known(fmt: str) -> None:
    if fmt not in FORMATS:
        raise ValueError(f"fmt: unknown tracking-number format {fmt!r} (known: {', '.join(FORMATS)})")


def is_valid(fmt: str, number: str) -> bool:
    """Whether `number` (spaces and dashes allowed) has the layout and check digit of `fmt`."""
    _known(fmt)
    return _VALIDATORS[fmt](normalise(number))


def identify(number: str) -> list[str]:
    """Every format that accepts the number, in FORMATS order (short numeric ones often fit several)."""
    n = normalise(number)
    return [fmt for fmt, valid in _VALIDATORS.items() if valid(n)]


# --- generation ------------------------------------------------------------------------------

def _serial_digits(serial: int, width: int, fmt: str) -> str:
    if isinstance(serial, bool) or not isinstance(serial, int) or not 0 <= serial < 10**width:
        raise ValueError(f"serial: {fmt} needs a whole number from 0 to {10**width - 1}, got {serial!r}")
    return str(serial).zfill(width)


def _required(name: str, value: str | None, pattern: str, what: str, fmt: str) -> str:
    v = normalise(value or "")
    if not re.fullmatch(pattern, v):
        raise ValueError(f"{name}: {fmt} needs {what}, got {value!r}")
    return v


def _unused(fmt: str, **given: str | None) -> None:
    for name, value in given.items():
        if value is not None:
            raise ValueError(f"{name}: not part of a {fmt} number")


def generate(
    fmt: str,
    serial: int,
    *,
    account: str | None = None,
    service: str | None = None,
    country: str | None = None,
) -> str:
    """A number of format `fmt` for package `serial`, with its check digit.

    ups: account = 6-character shipper number, service = 2-character service code, serial < 10^7.
    fedex_express: serial < 10^11. fedex_ground: serial < 10^14. dhl_express: serial < 10^9.
    usps_impb: account = mailer ID (9 digits starting with 9, giving prefix 92 and serial < 10^7;
    or 6 digits, giving 93 and serial < 10^10), service = 3-digit service type code; 22 digits.
    s10: service = 2 letters, country = ISO 3166 alpha-2 of the issuing post, serial < 10^8.
    Raises ValueError naming the argument that does not fit.
    """
    _known(fmt)
    if fmt == "ups":
        _unused(fmt, country=country)
        shipper = _required("account", account, r"[0-9A-Z]{6}", "a 6-character shipper number", fmt)
        svc = _required("service", service, r"[0-9A-Z]{2}", "a 2-character service code", fmt)
        body = shipper + svc + _serial_digits(serial, 7, fmt)
        return f"1Z{body}{mod10_weights_12(body)}"
    if fmt == "fedex_express":
        _unused(fmt, account=account, service=service, country=country)
        body = _serial_digits(serial, 11, fmt)
        return f"{body}{fedex_mod11(body)}"
    if fmt == "fedex_ground":
        _unused(fmt, account=account, service=service, country=country)
        body = _serial_digits(serial, 14, fmt)
        return f"{body}{gs1_mod10(body)}"
    if fmt == "usps_impb":
        _unused(fmt, country=country)
        mid = _required("account", account, r"9[0-9]{8}|[0-8][0-9]{5}", "a USPS mailer ID (9 digits from 9, or 6)", fmt)
        stc = _required("service", service, r"[0-9]{3}", "a 3-digit USPS service type code", fmt)
        ai, width = ("92", 7) if len(mid) == 9 else ("93", 10)
        body = ai + stc + mid + _serial_digits(serial, width, fmt)
        return f"{body}{gs1_mod10(body)}"
    if fmt == "dhl_express":
        _unused(fmt, account=account, service=service, country=country)
        body = _serial_digits(serial, 9, fmt)
        return f"{body}{mod7(body)}"
    if fmt == "s10":
        _unused(fmt, account=account)
        svc = _required("service", service, r"[A-Z]{2}", "a 2-letter service indicator", fmt)
        cc = _required("country", country, r"[A-Z]{2}", "an ISO 3166 alpha-2 country code", fmt)
        if not _is_country(cc):
            raise ValueError(f"country: {cc!r} is not an ISO 3166 country code")
        body = _serial_digits(serial, 8, fmt)
        return f"{svc}{body}{s10_check(body)}{cc}"
    raise ValueError(f"fmt: o2c does not issue {fmt} numbers (it can only check them)")


# --- tracking pages ------------------------------------------------------------------------

# The carriers' public tracking pages; {} takes the number.
_UPS = "https://www.ups.com/track?tracknum={}"
_FEDEX = "https://www.fedex.com/fedextrack/?trknbr={}"
_USPS = "https://tools.usps.com/go/TrackConfirmAction?tLabels={}"
_DHL = "https://www.dhl.com/global-en/home/tracking/tracking-express.html?submit=1&tracking-id={}"
_ONTRAC = "https://www.ontrac.com/tracking/?number={}"
_AMAZON = "https://track.amazon.com/tracking/{}"
_CARRIER_PAGES = {"UPS": _UPS, "FedEx": _FEDEX, "USPS": _USPS, "DHL": _DHL, "OnTrac": _ONTRAC, "Amazon": _AMAZON}
# S10 items are tracked by the post that issued them (its country code ends the number).
_S10_POSTS = {
    "US": _USPS,
    "GB": "https://www.royalmail.com/track-your-item#/tracking-results/{}",
}


def _public_number(fmt: str, n: str) -> str:
    """The part of a carrier barcode that the carrier's tracking page takes."""
    if fmt in ("fedex_express_34", "fedex_ground_gsn"):
        return n[-12:]  # the embedded 12-digit Express number
    if fmt == "fedex_astra":
        return n[16:28]
    if fmt == "fedex_ground_96":
        return n[7:]  # the embedded 15-digit Ground number
    if fmt in ("usps_impb", "usps_legacy") and n.startswith("420"):
        check = _impb_tracking if fmt == "usps_impb" else _usps_legacy_tracking
        return next(t for t in _usps_routing_splits(n)[1:] if check(t))
    return n


def tracking_url(fmt: str, number: str) -> str:
    """The carrier's public tracking page for a valid number of format `fmt`."""
    _known(fmt)
    n = normalise(number)
    if not _VALIDATORS[fmt](n):
        raise ValueError(f"number: {number!r} is not a valid {FORMATS[fmt].name} number")
    if fmt == "s10":
        pattern = _S10_POSTS.get(n[-2:])
        if pattern is None:
            raise ValueError(f"number: no tracking page is known for S10 items issued in {n[-2:]}")
    else:
        pattern = _CARRIER_PAGES[FORMATS[fmt].carrier]
    return pattern.format(quote(_public_number(fmt, n), safe=""))
