"""Duplicate customers: is a new or imported record someone we already know?

Three attributes are compared, each giving a score 0..100 and a reason a steward can read:
- name: the legal names after case, accents, punctuation and legal forms are dropped ("ACME Supply,
  Inc." = "Acme Supply"), compared by rapidfuzz (word order free, and written together or apart);
- tax number: the same number once spaces, dots and a country prefix are taken off is strong evidence,
  two different numbers are strong evidence against (two registered entities);
- billing address: street line similarity, postal code and country; another country scores 0.

The total (`combine`) weighs name 60 and address 40 (name alone when an address is missing on either
side), then the tax number moves it: a match lifts it to at least 95 (or 85 when the names differ a lot),
a conflict takes 30 off. Without a tax match, names under 70 cap the total at the name's score (two
firms in one building share an address). Candidates at or above THRESHOLD are reported.

`find_duplicates` is fast enough for every create: SQL first keeps the company's customers that share
the tax number or one of the name's longest words (by its first four letters, so a typo in the tail
still finds it); only those are scored.
"""
from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from functools import lru_cache

from rapidfuzz import fuzz
from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session

from o2c.customers.models import Customer, CustomerAccount, CustomerAddress

THRESHOLD = 75.0  # a candidate from here on is shown
MAX_CANDIDATES = 2000  # scored per search at most (name prefilter); tax number matches always are
NAME_WEIGHT, ADDRESS_WEIGHT = 0.6, 0.4
TAX_MATCH_FLOOR = 95.0  # same tax number and names alike (>= 60)
TAX_MATCH_FLOOR_OTHER_NAME = 85.0  # same tax number, names unlike (a renamed company, a trading name)
TAX_CONFLICT_PENALTY = 30.0
NAME_GATE = 70.0  # without a tax match, names less alike than this cap the total at the name's score

# Legal forms and filler words: they say nothing about who the customer is.
LEGAL_FORMS = frozenset("""
inc incorporated corp corporation co company companies llc ltd limited plc lp llp pllc
gmbh mbh ag kg ohg ug ev se kgaa sa sas sarl sl srl spa bv nv vof oy ab as asa aps pty pte bhd
sro doo dd kk ooo ltda cia cv rl the and of und et
""".split())
# Street words written in several ways.
_STREET_WORDS = {"st": "street", "str": "strasse", "straße": "strasse", "rd": "road", "ave": "avenue",
                 "av": "avenue", "blvd": "boulevard", "dr": "drive", "ln": "lane", "w": "west", "e": "east",
                 "n": "north", "s": "south", "ste": "suite", "fl": "floor"}
_DOTTED = re.compile(r"\b(?:[a-z]\.){2,}")  # "s.a." -> "sa", "b.v." -> "bv"
_WORD = re.compile(r"[a-z0-9]+")


def _fold(text: str | None) -> str:
    text = unicodedata.normalize("NFKD", (text or "").casefold().replace("ß", "ss"))
    text = "".join(ch for ch in text if not unicodedata.combining(ch))
    text = _DOTTED.sub(lambda m: m.group(0).replace(".", ""), text)
    return text.replace("&", " and ")


def name_words(name: str | None) -> list[str]:
    """The words that tell a name apart: folded, punctuation and legal forms dropped (all kept when the
    name is nothing but legal forms)."""
    words = _WORD.findall(_fold(name))
    kept = [w for w in words if w not in LEGAL_FORMS]
    return kept or words


@lru_cache(maxsize=1 << 16)  # the same names are compared search after search
def normal_name(name: str | None) -> str:
    return " ".join(name_words(name))


def compact_tax_id(tax_id: str | None) -> str:
    """Letters and digits only, in capitals, without a leading country prefix ("DE 123.456.789" ->
    "123456789"): how the same number typed twice compares equal."""
    text = re.sub(r"[^0-9A-Za-z]", "", tax_id or "").upper()
    if len(text) > 4 and text[:2].isalpha() and any(ch.isdigit() for ch in text[2:4]):
        text = text[2:]
    return text


@lru_cache(maxsize=1 << 16)
def _street(line: str | None) -> str:
    return " ".join(_STREET_WORDS.get(w, w) for w in _WORD.findall(_fold(line)))


@dataclass(frozen=True)
class Record:
    """What is compared of a customer."""

    legal_name: str
    tax_id: str | None = None
    line1: str | None = None
    postal_code: str | None = None
    country: str | None = None

    @classmethod
    def of(cls, legal_name: str, tax_id: str | None = None, address: dict | None = None) -> "Record":
        a = address or {}
        return cls(legal_name, tax_id, a.get("line1"), a.get("postal_code"), a.get("country"))


def name_score(a: str, b: str) -> tuple[float, str]:
    na, nb = normal_name(a), normal_name(b)
    if not na or not nb:
        return 0.0, "a name is empty"
    if na == nb:
        return 100.0, f"same name once legal forms and punctuation are dropped ({na!r})"
    score = max(fuzz.token_sort_ratio(na, nb), fuzz.ratio(na.replace(" ", ""), nb.replace(" ", "")))
    return round(score, 1), f"{na!r} and {nb!r} are {score:.0f}% alike"


def tax_score(a: str | None, b: str | None) -> tuple[str, str]:
    """'match', 'conflict' or 'unknown' (one side has none), with the reason."""
    ca, cb = compact_tax_id(a), compact_tax_id(b)
    if not ca or not cb:
        return "unknown", "a tax number is missing on one side"
    if ca == cb:
        return "match", f"same tax number ({ca})"
    return "conflict", f"different tax numbers ({ca} vs {cb})"


def address_score(a: Record, b: Record) -> tuple[float | None, str]:
    """None when either side has no address to compare."""
    if not (a.line1 or a.postal_code) or not (b.line1 or b.postal_code):
        return None, "an address is missing on one side"
    if a.country and b.country and a.country.upper() != b.country.upper():
        return 0.0, f"other country ({a.country.upper()} vs {b.country.upper()})"
    line = fuzz.token_sort_ratio(_street(a.line1), _street(b.line1)) if a.line1 and b.line1 else 0.0
    pa = re.sub(r"\s", "", (a.postal_code or "").upper())
    pb = re.sub(r"\s", "", (b.postal_code or "").upper())
    postal = 100.0 if pa and pa == pb else 0.0
    score = 0.7 * line + 0.3 * postal
    return round(score, 1), (f"street {line:.0f}% alike, postal code {'same' if postal else 'different'}"
                             + (", same country" if a.country and b.country else ""))


def score(a: Record, b: Record) -> tuple[float, dict]:
    """How likely `a` and `b` are the same customer (0..100), and each attribute's score and reason."""
    n, n_why = name_score(a.legal_name, b.legal_name)
    addr, addr_why = address_score(a, b)
    tax, tax_why = tax_score(a.tax_id, b.tax_id)
    total = n if addr is None else NAME_WEIGHT * n + ADDRESS_WEIGHT * addr
    if tax == "match":
        total = max(total, TAX_MATCH_FLOOR if n >= 60 else TAX_MATCH_FLOOR_OTHER_NAME)
    elif tax == "conflict":
        total = max(0.0, total - TAX_CONFLICT_PENALTY)
    if tax != "match" and n < NAME_GATE:
        total = min(total, n)  # other names at one address: tenants of one building, not one customer
    reasons = {"name": {"score": n, "reason": n_why},
               "address": {"score": addr, "reason": addr_why},
               "tax_id": {"result": tax, "reason": tax_why}}
    return round(total, 1), reasons


# --- finding them in the database -------------------------------------------------------------------

def _stripped(column):
    """The column without spaces, dots, dashes and slashes, in capitals (SQL side of compact_tax_id)."""
    expr = func.upper(column)
    for ch in (" ", ".", "-", "/"):
        expr = func.replace(expr, ch, "")
    return expr


def find_duplicates(session: Session, company_id: int, *, legal_name: str, tax_id: str | None = None,
                    address: dict | None = None, exclude_id: int | None = None, limit: int = 5) -> list[dict]:
    """The company's customers that may be the same as the one described, best first: each with id,
    code, legal_name, tax_id, score and reasons per attribute. Merged records are left out."""
    probe = Record.of(legal_name, tax_id, address)
    words = sorted({w for w in name_words(legal_name) if len(w) >= 3}, key=len, reverse=True)[:4]
    base = (select(Customer.id, Customer.code, Customer.legal_name, Customer.tax_id)
            .join(CustomerAccount, CustomerAccount.customer_id == Customer.id)
            .where(CustomerAccount.company_id == company_id, Customer.merged_into_id.is_(None)))
    if exclude_id is not None:
        base = base.where(Customer.id != exclude_id)
    candidates: dict[int, tuple] = {}
    tax = compact_tax_id(tax_id)
    if tax:  # few, and the strongest evidence: never crowded out by name matches
        candidates.update((r[0], r) for r in session.execute(base.where(_stripped(Customer.tax_id).like(f"%{tax}"))))
    if words:
        by_name = base.where(or_(*[Customer.legal_name.ilike(f"%{w[:4]}%") for w in words]))
        candidates.update((r[0], r) for r in session.execute(by_name.order_by(Customer.id).limit(MAX_CANDIDATES)))
    if not candidates:
        return []
    a = CustomerAddress
    billing: dict[int, tuple] = {}
    for cid, line1, postal, country in session.execute(
            select(a.customer_id, a.line1, a.postal_code, a.country)
            .where(a.customer_id.in_(list(candidates)), a.kind == "billing")
            .order_by(a.is_default, a.id.desc())):  # the default billing address comes last and stays
        billing[cid] = (line1, postal, country)
    found = []
    for cid, code, name, tid in candidates.values():
        other = Record(name, tid, *billing.get(cid, (None, None, None)))
        total, reasons = score(probe, other)
        if total >= THRESHOLD:
            found.append({"id": cid, "code": code, "legal_name": name, "tax_id": tid, "score": total,
                          "reasons": reasons})
    found.sort(key=lambda d: (-d["score"], d["id"]))
    return found[:limit]


def duplicates_of(session: Session, company_id: int, customer_id: int, limit: int = 5) -> list[dict]:
    """Candidates for an existing customer (its own record left out)."""
    from o2c.customers import service

    c, _ = service.load(session, company_id, customer_id)
    a = session.scalar(select(CustomerAddress).where(CustomerAddress.customer_id == c.id,
                                                     CustomerAddress.kind == "billing")
                       .order_by(CustomerAddress.is_default.desc(), CustomerAddress.id).limit(1))
    address = {"line1": a.line1, "postal_code": a.postal_code, "country": a.country} if a else None
    return find_duplicates(session, company_id, legal_name=c.legal_name, tax_id=c.tax_id, address=address,
                           exclude_id=c.id, limit=limit)
