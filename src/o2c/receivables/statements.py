"""Reading bank statements: ISO 20022 camt.053, SWIFT MT940 and a simple CSV.

Pure: bytes in, `Statement` objects out; no database, no clock. The service that stores statements and
the reconciliation that matches their lines to invoices build on this (docs/bank-statements.md).

A file is read whole or not at all: anything malformed raises `StatementError` naming where (a camt
element path, an MT940 line and tag, a CSV line and column) and nothing is returned. Every statement
must add up (opening balance + its lines = closing balance) unless the caller turns the check off.

Sources for the formats: ISO 20022 camt.053.001.02-.13 message definitions (BankToCustomerStatement);
SWIFT MT940 Customer Statement Message (Category 9, Standards Release Guide); German structured :86:
(DFÜ-Abkommen / DATEV: ?00 posting text, ?20-?29 and ?60-?63 purpose, ?30 BIC, ?31 account, ?32/?33
name; SEPA keywords EREF+, SVWZ+ ...); Dutch structured :86: (Rabobank/ING "/KEY/value" fields).
"""
from __future__ import annotations

import contextlib

import calendar
import csv
import hashlib
import io
import re
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from functools import lru_cache

import mt940
from lxml import etree
from stdnum import iban as stdnum_iban

from o2c.core.errors import FieldError, ValidationFailed
from o2c.core.money import ZERO, known_currencies, minor_units, plain

FORMATS = ("camt.053", "mt940", "csv")


class StatementError(ValidationFailed):
    """The file cannot be imported; `location` says where (element path, line and tag, line and column).

    `code` tells the kind: "format" (not a statement this module reads, or a kind it refuses),
    "syntax" (broken or cut-off file), "missing" (a required part is absent), "invalid" (a value is
    wrong), "balance" (the figures do not add up).
    """

    type = "/problems/bank-statement"
    title = "The bank statement cannot be imported"

    def __init__(self, message: str, location: str = "file", code: str = "invalid"):
        super().__init__(f"{location}: {message}", [FieldError(location, code, message)])
        self.message = message
        self.location = location
        self.code = code


@dataclass(frozen=True)
class StatementLine:
    """One booked movement on the account. `amount` is signed: money in (credit) is positive."""

    booking_date: date
    value_date: date | None
    amount: Decimal
    currency: str
    counterparty_name: str | None = None
    counterparty_iban: str | None = None  # as the bank wrote it (compact, upper case); not checksummed
    counterparty_bic: str | None = None
    remittance: str | None = None  # the free text, joined
    structured_reference: str | None = None  # creditor reference (RF...) or else the end-to-end id
    end_to_end_id: str | None = None
    bank_reference: str | None = None  # the bank's own id for the booking
    entry_reference: str | None = None  # camt NtryRef; MT940 :61: reference for the account owner
    bank_transaction_code: str | None = None  # camt "PMNT-RCDT-ESCT"; MT940 :61: type, e.g. "NTRF"
    reversal: bool = False  # camt RvslInd, MT940 RC/RD: this booking reverses an earlier one
    line_no: int = 0  # where it starts in the file (camt: the Ntry or TxDtls element's line)


@dataclass(frozen=True)
class Statement:
    """One statement (one account, one period) as read from a file that may hold several."""

    format: str  # one of FORMATS
    statement_id: str | None  # camt Stmt/Id, MT940 :20:; none in CSV
    account_iban: str | None  # the account's IBAN when the file gives one
    account_id: str | None  # the account as the file writes it (IBAN or the bank's own number)
    currency: str
    opening_balance: Decimal | None
    closing_balance: Decimal | None
    opening_date: date | None
    closing_date: date | None
    lines: list[StatementLine]
    sequence: str | None  # camt ElctrncSeqNb (or LglSeqNb), MT940 :28C: statement/sequence number
    fingerprint: str  # equal for the same statement imported twice, see statement_fingerprint
    skipped_entries: int = 0  # camt entries not booked yet (Sts PDNG/INFO): left out of lines

    @property
    def total(self) -> Decimal:
        return sum((line.amount for line in self.lines), ZERO)


def statement_fingerprint(account: str | None, statement_id: str | None, sequence: str | None,
                          closing_date: date | None, closing_balance: Decimal | None, currency: str,
                          line_count: int) -> str:
    """SHA-256 (hex) of account, statement id, sequence, closing date, closing balance, currency and
    line count. A bank re-sending the same statement gives the same values; the next day's statement
    differs at least in its closing date or sequence. The file format is not part of it."""
    parts = [account or "", statement_id or "", sequence or "",
             closing_date.isoformat() if closing_date else "",
             plain(closing_balance) if closing_balance is not None else "", currency, str(line_count)]
    return hashlib.sha256("\x1f".join(parts).encode()).hexdigest()


def parse(data: bytes, filename: str | None = None, *, check_balances: bool = True,
          encoding: str | None = None) -> list[Statement]:
    """Read every statement in a file, telling camt.053, MT940 and CSV apart by their content.

    `encoding` is only for MT940 files that are not UTF-8 (default fallback: cp852, as mt-940 does).
    """
    kind = detect(data, filename)
    if kind == "camt":
        return parse_camt053(data, check_balances=check_balances)
    if kind == "mt940":
        return parse_mt940(data, check_balances=check_balances, encoding=encoding)
    return parse_csv(data)


_TAG_LINE = re.compile(rb"^:(\d{2}[A-Z]?|NS):", re.MULTILINE)


def detect(data: bytes, filename: str | None = None) -> str:
    """"camt" (any XML: parse_camt053 says which camt it is), "mt940" or "csv"; else StatementError."""
    where = filename or "file"
    head = data.removeprefix(b"\xef\xbb\xbf").lstrip()
    if not head:
        raise StatementError("the file is empty", where, "format")
    if head.startswith(b"<"):
        return "camt"
    if _TAG_LINE.search(data):
        return "mt940"
    first = head.split(b"\n", 1)[0].decode("utf-8", "replace")
    names = {c.strip().lower() for c in re.split(r"[,;]", first)}
    if set(CSV_REQUIRED) <= names or (filename or "").lower().endswith(".csv"):
        return "csv"
    raise StatementError("not a bank statement this system reads: expected camt.053 XML, MT940 "
                         "(:20:, :25:, :60F: ...) or CSV with a header naming date, amount and "
                         "currency", where, "format")


def _check_balance(label: str, where: str, opening: Decimal | None, lines: list[StatementLine],
                   closing: Decimal | None) -> None:
    if opening is None or closing is None:
        return
    total = sum((line.amount for line in lines), ZERO)
    if opening + total != closing:
        raise StatementError(
            f"statement {label} does not add up: opening balance {plain(opening)} + {len(lines)} "
            f"lines {plain(total)} = {plain(opening + total)}, but the closing balance is "
            f"{plain(closing)}", where, "balance")


def _clean(text: str | None) -> str | None:
    """Runs of whitespace to one space, trimmed; None for nothing."""
    if text is None:
        return None
    text = " ".join(text.split())
    return text or None


_IBAN_SHAPE = re.compile(r"[A-Z]{2}[0-9]{2}[A-Z0-9]{11,30}")
_BIC_SHAPE = re.compile(r"[A-Z]{6}[A-Z0-9]{2}([A-Z0-9]{3})?")


def _iban(text: str | None) -> str | None:
    """The text as a compact IBAN when it has an IBAN's shape (the check digits are not tested:
    the bank's word is kept as is, and the matcher compares it with the customer's own)."""
    if not text:
        return None
    compact = re.sub(r"\s", "", text).upper()
    return compact if _IBAN_SHAPE.fullmatch(compact) else None


def _bic(text: str | None) -> str | None:
    if not text:
        return None
    compact = text.strip().upper()
    return compact if _BIC_SHAPE.fullmatch(compact) else None


def _currency(code: str, where: str) -> str:
    if code not in known_currencies():
        raise StatementError(f"currency '{code}' is not an ISO 4217 code", where)
    return code


# --- ISO 20022 camt.053 ---------------------------------------------------------------------------

_CAMT_NS = re.compile(r"urn:iso:std:iso:20022:tech:xsd:camt\.(?P<msg>\d{3})\.001\.(?P<ver>\d{2})")
_CAMT_OTHERS = {"052": "an intraday account report (camt.052)",
                "054": "a debit/credit notification (camt.054)"}
# Elements that repeat, numbered from 1 in paths: Document/BkToCstmrStmt/Stmt[1]/Ntry[3]/Amt.
_NUMBERED = {"Stmt", "Bal", "Ntry", "NtryDtls", "TxDtls"}
_CAMT_AMOUNT = re.compile(r"\d+(\.\d+)?")
_NOT_PROVIDED = {"NOTPROVIDED", "NONREF"}


def parse_camt053(data: bytes, *, check_balances: bool = True) -> list[Statement]:
    """Every Stmt of a camt.053 (versions 02 and later). camt.052 and camt.054 are refused."""
    root = _xml_root(data)
    qname = etree.QName(root)
    found = _CAMT_NS.fullmatch(qname.namespace or "")
    if qname.localname != "Document" or not found:
        raise StatementError(f"not an ISO 20022 camt.053 statement: the document is "
                             f"{{{qname.namespace or ''}}}{qname.localname}", qname.localname, "format")
    if found["msg"] != "053":
        what = _CAMT_OTHERS.get(found["msg"], f"camt.{found['msg']}")
        raise StatementError(f"this is {what}; only end-of-day statements (camt.053) are imported",
                             "Document", "format")
    if int(found["ver"]) < 2:
        raise StatementError(f"camt.053 version 001.{found['ver']} is not supported (02 and later are)",
                             "Document", "format")
    camt = _Camt(qname.namespace)
    body = camt.need(root, "BkToCstmrStmt", "Document")
    stmts = body.findall(camt.q("Stmt"))
    if not stmts:
        raise StatementError("missing", "Document/BkToCstmrStmt/Stmt", "missing")
    return [camt.statement(el, f"Document/BkToCstmrStmt/Stmt[{i}]", check_balances)
            for i, el in enumerate(stmts, 1)]


def _xml_parser() -> etree.XMLParser:
    # One per call (lxml parsers are not shared between threads); no entities, no network.
    return etree.XMLParser(resolve_entities=False, no_network=True, remove_comments=True,
                           remove_pis=True)


def _xml_root(data: bytes) -> etree._Element:
    try:
        return etree.fromstring(data, _xml_parser())
    except etree.XMLSyntaxError as err:
        raise _xml_syntax_error(data, err) from None


def _xml_syntax_error(data: bytes, err: etree.XMLSyntaxError) -> StatementError:
    """Name the element the parser was inside when the XML broke (for a cut-off file: where it ends)."""
    stack: list[str] = []
    counts: list[dict[str, int]] = [defaultdict(int)]
    with contextlib.suppress(etree.XMLSyntaxError):  # read up to the break: the stack is where it broke
        for event, el in etree.iterparse(io.BytesIO(data), events=("start", "end"),
                                         resolve_entities=False, no_network=True):
            name = etree.QName(el).localname
            if event == "start":
                counts[-1][name] += 1
                stack.append(f"{name}[{counts[-1][name]}]" if name in _NUMBERED else name)
                counts.append(defaultdict(int))
            else:
                stack.pop()
                counts.pop()
                el.clear()
    line = err.lineno or 0
    last_line = data.rstrip().count(b"\n") + 1
    if stack and line >= last_line:
        message = f"the file ends inside this element (line {line}): it is cut off or incomplete"
    else:
        message = f"the XML is broken at line {line}: {err.msg}"
    return StatementError(message, "/".join(stack) or "file", "syntax")


class _Camt:
    """Reads one camt.053 namespace (the element names are the same in every version; where they
    differ, e.g. Sts vs Sts/Cd or Dbtr/Nm vs Dbtr/Pty/Nm, both are tried)."""

    def __init__(self, ns: str):
        self.ns = ns
        self._paths: dict[str, str] = {}

    def q(self, path: str) -> str:
        """The path with the namespace on every step (memoised: a statement asks the same few)."""
        full = self._paths.get(path)
        if full is None:
            full = self._paths[path] = "/".join(f"{{{self.ns}}}{part}" for part in path.split("/"))
        return full

    def find(self, el, path: str):
        return None if el is None else el.find(self.q(path))

    def text(self, el, *paths: str) -> str | None:
        """The trimmed text of the first of `paths` that has some."""
        for path in paths:
            found = self.find(el, path)
            if found is not None and found.text and found.text.strip():
                return found.text.strip()
        return None

    def need(self, el, path: str, where: str):
        found = self.find(el, path)
        if found is None:
            raise StatementError("missing", f"{where}/{path}", "missing")
        return found

    def amount(self, el, where: str) -> tuple[Decimal, str]:
        """An Amt element: its value (not signed) and currency."""
        value = self.number(el, where)
        ccy = el.get("Ccy")
        if not ccy:
            raise StatementError("missing", f"{where}/@Ccy", "missing")
        return value, _currency(ccy, f"{where}/@Ccy")

    def sign(self, el, where: str) -> int:
        ind = self.text(el, "CdtDbtInd")
        if ind is None:
            raise StatementError("missing", f"{where}/CdtDbtInd", "missing")
        if ind not in ("CRDT", "DBIT"):
            raise StatementError(f"must be CRDT or DBIT, not '{ind}'", f"{where}/CdtDbtInd")
        return 1 if ind == "CRDT" else -1

    def date(self, el, path: str, where: str) -> date | None:
        """A date-or-datetime choice (…/Dt or …/DtTm); a time zone or time of day is dropped."""
        text = self.text(el, f"{path}/Dt", f"{path}/DtTm")
        if text is None:
            return None
        try:
            return date.fromisoformat(text[:10])
        except ValueError:
            raise StatementError(f"'{text}' is not a date", f"{where}/{path}") from None

    def balance(self, bal, where: str) -> tuple[str | None, Decimal, str, date | None]:
        code = self.text(bal, "Tp/CdOrPrtry/Cd", "Tp/CdOrPrtry/Prtry")
        value, ccy = self.amount(self.need(bal, "Amt", where), f"{where}/Amt")
        return code, value * self.sign(bal, where), ccy, self.date(bal, "Dt", where)

    def statement(self, el, where: str, check_balances: bool) -> Statement:
        stmt_id = self.text(el, "Id")
        if stmt_id is None:
            raise StatementError("missing", f"{where}/Id", "missing")
        acct = self.need(el, "Acct", where)
        iban = self.text(acct, "Id/IBAN")
        account = iban or self.text(acct, "Id/Othr/Id")
        if account is None:
            raise StatementError("missing: neither IBAN nor Othr/Id", f"{where}/Acct/Id", "missing")
        balances = {}
        for i, bal in enumerate(el.findall(self.q("Bal")), 1):
            code, value, ccy, day = self.balance(bal, f"{where}/Bal[{i}]")
            balances.setdefault(code, (value, ccy, day, f"{where}/Bal[{i}]"))
        # Opening: OPBD (opening booked), else PRCD (previous closing booked). Closing: CLBD.
        opening = balances.get("OPBD") or balances.get("PRCD")
        closing = balances.get("CLBD")
        entries = el.findall(self.q("Ntry"))
        first_amt = self.find(entries[0], "Amt") if entries else None
        currency = (self.text(acct, "Ccy") or (opening and opening[1]) or (closing and closing[1])
                    or (first_amt.get("Ccy") if first_amt is not None else None))
        if not currency:
            raise StatementError("missing: no currency on the account, its balances or entries",
                                 f"{where}/Acct/Ccy", "missing")
        currency = _currency(currency, f"{where}/Acct/Ccy")
        for bal in (opening, closing):
            if bal and bal[1] != currency:
                raise StatementError(f"currency {bal[1]} differs from the account's {currency}",
                                     f"{bal[3]}/Amt/@Ccy")
        lines: list[StatementLine] = []
        skipped = 0
        net = ZERO
        for i, ntry in enumerate(entries, 1):
            w = f"{where}/Ntry[{i}]"
            value, ccy = self.amount(self.need(ntry, "Amt", w), f"{w}/Amt")
            if ccy != currency:
                raise StatementError(f"currency {ccy} differs from the statement's {currency}",
                                     f"{w}/Amt/@Ccy")
            signed = value * self.sign(ntry, w)
            net += signed
            status = self.text(ntry, "Sts/Cd", "Sts/Prtry", "Sts")
            if status is None:
                raise StatementError("missing", f"{w}/Sts", "missing")
            if status != "BOOK":
                skipped += 1  # pending or information only: booked on a later statement
                continue
            lines.extend(self.entry_lines(ntry, w, signed, currency))
        self.check_summary(el, where, len(entries), net)
        label = f"'{stmt_id}'"
        if check_balances:
            _check_balance(label, where, opening and opening[0], lines, closing and closing[0])
        # The balances' dates, else the period the statement covers (FrToDt).
        period = self.find(el, "FrToDt")
        opening_date = (opening[2] if opening else None) or self.datetime_date(period, "FrDtTm", where)
        closing_date = (closing[2] if closing else None) or self.datetime_date(period, "ToDtTm", where)
        sequence = self.text(el, "ElctrncSeqNb", "LglSeqNb")
        opening_balance = opening[0] if opening else None
        closing_balance = closing[0] if closing else None
        return Statement(
            format="camt.053", statement_id=stmt_id, account_iban=_iban(iban), account_id=account,
            currency=currency, opening_balance=opening_balance, closing_balance=closing_balance,
            opening_date=opening_date, closing_date=closing_date, lines=lines,
            sequence=sequence, skipped_entries=skipped,
            fingerprint=statement_fingerprint(account, stmt_id, sequence, closing_date,
                                              closing_balance, currency, len(lines)))

    def check_summary(self, el, where: str, count: int, net: Decimal) -> None:
        """TxsSummry/TtlNtries, when the bank sends it: the number of entries and their net sum."""
        totals = self.find(el, "TxsSummry/TtlNtries")
        if totals is None:
            return
        w = f"{where}/TxsSummry/TtlNtries"
        said = self.text(totals, "NbOfNtries")
        if said is not None and (not said.isdigit() or int(said) != count):
            raise StatementError(f"says {said} entries, the statement has {count}", f"{w}/NbOfNtries",
                                 "balance")
        total_net = self.find(totals, "TtlNetNtry")
        if total_net is not None:
            value = self.number(self.need(total_net, "Amt", f"{w}/TtlNetNtry"), f"{w}/TtlNetNtry/Amt")
            value *= self.sign(total_net, f"{w}/TtlNetNtry")
            if value != net:
                raise StatementError(f"says the entries net {plain(value)}, they net {plain(net)}",
                                     f"{w}/TtlNetNtry", "balance")

    def datetime_date(self, period, path: str, where: str) -> date | None:
        text = self.text(period, path)
        if text is None:
            return None
        try:
            return date.fromisoformat(text[:10])
        except ValueError:
            raise StatementError(f"'{text}' is not a date and time", f"{where}/FrToDt/{path}") from None

    def number(self, el, where: str) -> Decimal:
        """An amount without a currency attribute (TxsSummry)."""
        text = (el.text or "").strip()
        if not _CAMT_AMOUNT.fullmatch(text):
            raise StatementError(f"'{text}' is not an amount", where)
        return Decimal(text)

    def entry_lines(self, ntry, w: str, signed: Decimal, currency: str) -> list[StatementLine]:
        """One line per TxDtls when each gives its own amount (a batch booking), else one line."""
        booking = self.date(ntry, "BookgDt", w)
        value_date = self.date(ntry, "ValDt", w)
        if booking is None and value_date is None:
            raise StatementError("missing", f"{w}/BookgDt", "missing")
        common = dict(
            booking_date=booking or value_date, value_date=value_date, currency=currency,
            entry_reference=self.text(ntry, "NtryRef"),
            reversal=self.text(ntry, "RvslInd") in ("true", "1"))
        entry_ref = self.text(ntry, "AcctSvcrRef")
        entry_info = self.text(ntry, "AddtlNtryInf")
        entry_code = self.tx_code(ntry)
        txs = [(tx, f"{w}/NtryDtls[{j}]/TxDtls[{k}]")
               for j, dtls in enumerate(ntry.findall(self.q("NtryDtls")), 1)
               for k, tx in enumerate(dtls.findall(self.q("TxDtls")), 1)]

        def line(amount: Decimal, tx, line_no: int) -> StatementLine:
            d = self.details(tx, credit=amount >= 0) if tx is not None else {}
            return StatementLine(
                amount=amount, line_no=line_no,
                counterparty_name=d.get("name"), counterparty_iban=d.get("iban"),
                counterparty_bic=d.get("bic"),
                remittance=d.get("remittance") or d.get("info") or _clean(entry_info),
                structured_reference=d.get("creditor_ref") or d.get("e2e"),
                end_to_end_id=d.get("e2e"), bank_reference=d.get("bank_ref") or entry_ref,
                bank_transaction_code=d.get("code") or entry_code, **common)

        if len(txs) <= 1:
            return [line(signed, txs[0][0] if txs else None, ntry.sourceline)]
        amounts = [self.tx_amount(tx, tw, currency, signed) for tx, tw in txs]
        if all(a is not None for a in amounts) and sum(amounts, ZERO) == signed:
            return [line(a, tx, tx.sourceline) for a, (tx, _) in zip(amounts, txs)]
        # A batch whose transactions lack amounts, or whose amounts do not make up the entry (e.g.
        # charges taken off): the entry is what was booked, so one line with what they share.
        details = [self.details(tx, credit=signed >= 0) for tx, _ in txs]
        joined = " / ".join(dict.fromkeys(d["remittance"] for d in details if d.get("remittance")))

        def shared(key: str) -> str | None:
            values = {d.get(key) for d in details}
            return values.pop() if len(values) == 1 else None

        return [StatementLine(
            amount=signed, line_no=ntry.sourceline, counterparty_name=shared("name"),
            counterparty_iban=shared("iban"), counterparty_bic=shared("bic"),
            remittance=joined or _clean(entry_info), structured_reference=None, end_to_end_id=None,
            bank_reference=entry_ref, bank_transaction_code=entry_code, **common)]

    def tx_amount(self, tx, where: str, currency: str, entry: Decimal) -> Decimal | None:
        """The transaction's own amount in the statement's currency (v03+: TxDtls/Amt; v02:
        AmtDtls/TxAmt/Amt), signed; None when it has none in that currency."""
        for path in ("Amt", "AmtDtls/TxAmt/Amt"):
            el = self.find(tx, path)
            if el is not None and el.get("Ccy") == currency:
                value, _ = self.amount(el, f"{where}/{path}")
                if self.find(tx, "CdtDbtInd") is not None:
                    return value * self.sign(tx, where)
                return value if entry >= 0 else -value
        return None

    def tx_code(self, el) -> str | None:
        domain = self.text(el, "BkTxCd/Domn/Cd")
        if domain:
            parts = [domain, self.text(el, "BkTxCd/Domn/Fmly/Cd"),
                     self.text(el, "BkTxCd/Domn/Fmly/SubFmlyCd")]
            return "-".join(p for p in parts if p)
        return self.text(el, "BkTxCd/Prtry/Cd")

    def details(self, tx, credit: bool) -> dict[str, str | None]:
        """Counterparty, references and remittance of one TxDtls. The counterparty is the debtor of
        money coming in and the creditor of money going out."""
        party, account, agent = ("Dbtr", "DbtrAcct", "DbtrAgt") if credit else ("Cdtr", "CdtrAcct", "CdtrAgt")
        parties = self.find(tx, "RltdPties")
        name = self.text(parties, f"{party}/Nm", f"{party}/Pty/Nm", f"Ultmt{party}/Nm",
                         f"Ultmt{party}/Pty/Nm")
        e2e = self.text(tx, "Refs/EndToEndId")
        if e2e in _NOT_PROVIDED:
            e2e = None
        rmt = self.find(tx, "RmtInf")
        texts: list[str] = []
        creditor_ref = None
        if rmt is not None:
            texts += [u.text.strip() for u in rmt.findall(self.q("Ustrd")) if u.text and u.text.strip()]
            for strd in rmt.findall(self.q("Strd")):
                creditor_ref = creditor_ref or self.text(strd, "CdtrRefInf/Ref")
                # Referred document numbers (e.g. the invoice number) and extra text go with the free text.
                texts += [n.text.strip() for n in strd.iterfind(self.q("RfrdDocInf/Nb")) if n.text]
                texts += [a.text.strip() for a in strd.iterfind(self.q("AddtlRmtInf")) if a.text]
        return {
            "name": _clean(name),
            "iban": _iban(self.text(parties, f"{account}/Id/IBAN")),
            "bic": _bic(self.text(tx, f"RltdAgts/{agent}/FinInstnId/BIC",
                                  f"RltdAgts/{agent}/FinInstnId/BICFI")),
            "e2e": e2e,
            "creditor_ref": creditor_ref,
            "bank_ref": self.text(tx, "Refs/AcctSvcrRef"),
            "code": self.tx_code(tx),
            "remittance": _clean(" ".join(texts)),
            "info": _clean(self.text(tx, "AddtlTxInf")),
        }


# --- SWIFT MT940 ----------------------------------------------------------------------------------

_MT_TAG = re.compile(r":(?P<tag>\d{2}[A-Z]?|NS):(?P<value>.*)")
_MT940_FIELDS = {"20", "21", "25", "25P", "28", "28C", "60", "60F", "60M", "61", "62", "62F", "62M",
                 "64", "65", "86", "NS"}
_MT942_FIELDS = {"13", "13D", "34F", "90D", "90C"}  # floor limit, report time, sums: MT942 only
_MT_AMOUNT = re.compile(r"\d+(,\d*)?")  # SWIFT 15d: a comma is the decimal mark, no other separator
_MT_OPTIONS = mt940.Options(applicant_iban=True, merge_keeps_values=True, reversal_sign=True,
                            unbounded_details=True, gvc_leading_text=True)
_MT_STATEMENT_LINE = mt940.tags.Statement()
_MT_STATEMENT_LINE_ASNB = mt940.tags.StatementASNB()
# Dutch structured :86: keys (Rabobank, ING, ABN AMRO SEPA formats).
_NL_KEYS = ("EREF", "PREF", "MARF", "CSID", "BENM", "ORDP", "NAME", "ADDR", "ID", "IBAN", "BIC",
            "REMI", "ISDT", "RTRN", "TRTP", "CNTP", "PURP", "ULTB", "ULTD", "SVCL", "CDTRREF",
            "CDTRREFTP", "BUSP", "CHGS", "EXCH", "OCMT", "FX", "ACCW")
_NL_SPLIT = re.compile(r"/(%s)/" % "|".join(sorted(_NL_KEYS, key=len, reverse=True)))


@dataclass
class _Field:
    """One MT940 field: its tag, the line it starts on, and its text lines (the tag removed)."""

    tag: str
    line: int
    lines: list[str] = field(default_factory=list)

    @property
    def value(self) -> str:
        return "\n".join(line.rstrip() for line in self.lines).strip("\n")

    @property
    def where(self) -> str:
        return f"line {self.line} (:{self.tag}:)"


def _decode(data: bytes, encoding: str | None) -> str:
    data = data.removeprefix(b"\xef\xbb\xbf")
    for enc in (encoding, "utf-8"):
        if enc:
            try:
                return data.decode(enc)
            except UnicodeDecodeError:
                continue
    return data.decode("cp852")  # decodes every byte; the fallback mt-940 uses too


def parse_mt940(data: bytes | str, *, check_balances: bool = True,
                encoding: str | None = None) -> list[Statement]:
    """Every statement (each :20: ... :62F: block) of an MT940 file. MT942 reports are refused."""
    text = data if isinstance(data, str) else _decode(data, encoding)
    fields = _mt940_fields(text)
    if not fields:
        raise StatementError("no MT940 fields (:20:, :25:, :60F: ...) in the file", "file", "format")
    blocks: list[list[_Field]] = []
    for f in fields:
        if f.tag == "20":
            blocks.append([f])
        elif not blocks:
            raise StatementError("a statement must start with :20: (transaction reference); this is "
                                 "not a complete MT940 statement", f.where, "missing")
        else:
            blocks[-1].append(f)
    return [_mt940_statement(block, check_balances) for block in blocks]


def _mt940_fields(text: str) -> list[_Field]:
    """Split the text into fields. Lines outside a message (SWIFT headers such as {1:...}{4:, a
    bank's banner, the "-" or "-}" that ends a message) are skipped. A line that looks like an
    unknown tag inside :86: or :NS: free text (":26:37 ...") is a continuation, as SWIFT lines
    may not start with ':' anyway."""
    fields: list[_Field] = []
    inside = False
    for n, raw in enumerate(re.split(r"\r\n|\r|\n", text), 1):
        line = raw.strip("\x01\x03")  # SOH/ETX framing some banks keep
        m = _MT_TAG.match(line)
        if m and (m["tag"] in _MT940_FIELDS or m["tag"] in _MT942_FIELDS):
            fields.append(_Field(m["tag"], n, [m["value"]]))
            inside = True
        elif m and inside and fields[-1].tag in ("86", "NS"):
            fields[-1].lines.append(line)
        elif m:
            raise StatementError(f"':{m['tag']}:' is not an MT940 field", f"line {n}")
        elif line.startswith("-"):
            inside = False  # end of message; a field's line never starts with '-'
        elif inside and line.strip():
            fields[-1].lines.append(line)
    return fields


def _mt940_statement(block: list[_Field], check_balances: bool) -> Statement:
    head = block[0]
    ref = head.value.strip() or None
    label = f"'{ref}'"
    if any(f.tag in _MT942_FIELDS for f in block):
        raise StatementError("this is an MT942 interim transaction report: only end-of-day statements "
                             "(MT940) are imported", head.where, "format")
    account_field = sequence = opening = closing = None
    entries: list[tuple[_Field, list[_Field], list[_Field]]] = []  # :61:, its :86:s, its :NS:s
    for f in block[1:]:
        repeated_account = account_field is not None and f.tag.startswith("25")
        if f.tag in ("25", "25P", "28", "28C") and (opening or repeated_account):
            what = "account (:25:)" if f.tag.startswith("25") else "statement number (:28C:)"
            raise StatementError(f"the {what} must come once, before the opening balance", f.where)
        if f.tag in ("25", "25P"):
            account_field = f
        elif f.tag in ("28", "28C"):
            sequence = f.value.strip() or None
        elif f.tag in ("60", "60F", "60M"):
            if opening or entries or closing:
                raise StatementError("an opening balance must come once, before the statement lines",
                                     f.where)
            opening = (*_mt_balance(f), f)
        elif f.tag == "61":
            if opening is None:
                raise StatementError(f"statement line before the opening balance (:60F:) of statement "
                                     f"{label}", f.where, "missing")
            if closing:
                raise StatementError("statement line after the closing balance", f.where)
            entries.append((f, [], []))
        elif f.tag == "86" and entries and not closing:
            entries[-1][1].append(f)
        elif f.tag == "NS" and entries and not closing:
            entries[-1][2].append(f)
        elif f.tag in ("62", "62F", "62M"):
            if closing:
                raise StatementError("a second closing balance", f.where)
            closing = (*_mt_balance(f), f)
        # :21:, :64:, :65:, and :86:/:NS: about the whole statement are not needed here.
    if account_field is None or not account_field.value.strip():
        raise StatementError(f"statement {label} has no account (:25:)", head.where, "missing")
    if opening is None:
        raise StatementError(f"statement {label} has no opening balance (:60F: or :60M:)",
                             head.where, "missing")
    if closing is None:
        raise StatementError(f"statement {label} has no closing balance (:62F: or :62M:): the file "
                             f"is cut off or incomplete", head.where, "missing")
    currency = opening[2]
    if closing[2] != currency:
        raise StatementError(f"currency {closing[2]} differs from the opening balance's {currency}",
                             closing[3].where)
    account_id = " ".join(account_field.value.split())
    account_iban = _iban(account_id)
    # ASN Bank writes the counterparty's IBAN (34x) where SWIFT has a 16x reference: its own pattern.
    asnb = bool(account_iban and account_iban[4:8] == "ASNB")
    lines = [_mt940_line(*entry, currency, asnb) for entry in entries]
    if check_balances:
        _check_balance(label, head.where, opening[0], lines, closing[0])
    return Statement(
        format="mt940", statement_id=ref, account_iban=account_iban, account_id=account_id,
        currency=currency, opening_balance=opening[0], closing_balance=closing[0],
        opening_date=opening[1], closing_date=closing[1], lines=lines, sequence=sequence,
        fingerprint=statement_fingerprint(account_iban or account_id, ref, sequence, closing[1],
                                          closing[0], currency, len(lines)))


def _mt_date(text: str, where: str, what: str) -> date:
    """YYMMDD; years 00-79 are 2000-2079, 80-99 are 1980-1999. 29-31 February (some German banks
    date their month-end charges the 30th) is read as the last day of February."""
    if not re.fullmatch(r"\d{6}", text):
        raise StatementError(f"{what} '{text}' is not a date (YYMMDD)", where)
    yy, month, day = int(text[:2]), int(text[2:4]), int(text[4:])
    year = 2000 + yy if yy < 80 else 1900 + yy
    if month == 2 and 29 <= day <= 31:
        day = calendar.monthrange(year, 2)[1]
    try:
        return date(year, month, day)
    except ValueError:
        raise StatementError(f"{what} '{text}' is not a real date (YYMMDD)", where) from None


def _mt_amount(text: str, where: str) -> Decimal:
    if not _MT_AMOUNT.fullmatch(text):
        raise StatementError(f"amount '{text}' is not a number", where)
    return Decimal(text.replace(",", "."))


def _mt_balance(f: _Field) -> tuple[Decimal, date, str]:
    """A balance field (:60F:, :62F: ...): D/C mark, YYMMDD, currency, amount."""
    value = f.value.strip()
    if len(value) < 10:
        raise StatementError(f"'{value}' is not a balance: expected a C or D mark, a date (YYMMDD), a "
                             f"currency and an amount, e.g. C240131EUR1234,56", f.where)
    mark, day, ccy, amount = value[0], value[1:7], value[7:10], value[10:]
    if mark not in "CD":
        raise StatementError(f"debit/credit mark must be C or D, not '{mark}'", f.where)
    when = _mt_date(day, f.where, "date")
    ccy = _currency(ccy, f.where)
    signed = _mt_amount(amount, f.where)
    return (-signed if mark == "D" else signed), when, ccy


# :61: value date, [entry date], mark, [funds code], amount, then the transaction type (N/F/S + 3).
_MT_LINE_HEAD = re.compile(r"(?P<value>\d{6})(?P<entry>\d{4}|\s{4})?(?P<mark>R?[CD])(?P<funds>[A-Z])?"
                           r"[\n ]?(?P<amount>[^A-Z\n]*)(?P<type>[A-Z][A-Z0-9 ]{3})?")


def _mt940_line(f: _Field, details: list[_Field], ns: list[_Field], currency: str,
                asnb: bool) -> StatementLine:
    value = f.value.strip()
    head = _MT_LINE_HEAD.match(value)
    if not re.match(r"\d{6}", value):
        raise StatementError(f"value date '{value[:6]}' is not a date (YYMMDD)", f.where)
    if head is None:
        rest = re.sub(r"^\d{6}(\d{4})?", "", value)
        got = rest[:2] if rest.startswith("R") else rest[:1]
        raise StatementError(f"debit/credit mark must be C, D, RC or RD, not '{got}'", f.where)
    value_date = _mt_date(head["value"], f.where, "value date")
    amount = _mt_amount(head["amount"], f.where)
    if not head["type"] or head["type"][0] not in "NFS":
        got = value[head.end("amount"):head.end("amount") + 4]
        raise StatementError(f"transaction type must follow the amount (N, F or S and three more, "
                             f"e.g. NTRF), not '{got}'", f.where)
    mark = head["mark"]
    signed = -amount if mark in ("D", "RC") else amount
    booking = value_date
    if head["entry"] and head["entry"].strip():
        booking = _entry_date(head["entry"], value_date, f.where)
    # The library reads the references and supplementary details after the type code.
    tag = _MT_STATEMENT_LINE_ASNB if asnb else _MT_STATEMENT_LINE
    try:
        parsed = tag.parse(None, value)
    except RuntimeError:
        raise StatementError("cannot read the references of this statement line (expected "
                             "reference[//bank reference] and supplementary details)", f.where) from None
    customer_ref = (parsed.get("customer_reference") or "").strip()
    bank_ref = (parsed.get("bank_reference") or "").strip()
    extra = _clean(parsed.get("extra_details"))
    raw = [line for f86 in details for line in f86.lines]
    if raw and extra and raw[0].strip() == f"{customer_ref} {extra}":
        raw = raw[1:]  # SNS and ASN repeat "account name" as the first :86: line
    info = _mt940_details(raw)
    # Dutch banks put the counterparty's account in the :61: reference and its name in the
    # supplementary details (ABN AMRO, Rabobank, SNS, ASN); an IBAN there is the counterparty's.
    account_ref = _iban(customer_ref) or (customer_ref if re.fullmatch(r"P?\d{7,10}", customer_ref) else None)
    iban = info.get("iban") or _iban(customer_ref) or _iban(extra)
    name = info.get("name") or (extra if account_ref and extra and not _iban(extra) else None)
    remittance = info.get("remittance")
    ns_text = _clean(" ".join(re.sub(r"^\d{2}", "", line) for f_ns in ns for line in f_ns.lines))
    if ns_text:
        remittance = f"{remittance} {ns_text}" if remittance else ns_text
    return StatementLine(
        booking_date=booking, value_date=value_date, amount=signed, currency=currency,
        counterparty_name=name, counterparty_iban=iban, counterparty_bic=info.get("bic"),
        remittance=remittance, structured_reference=info.get("e2e"), end_to_end_id=info.get("e2e"),
        bank_reference=bank_ref if bank_ref and bank_ref not in _NOT_PROVIDED else None,
        entry_reference=customer_ref if customer_ref and customer_ref not in _NOT_PROVIDED else None,
        bank_transaction_code=head["type"].strip(), reversal=mark.startswith("R"), line_no=f.line)


def _entry_date(mmdd: str, value_date: date, where: str) -> date:
    """The entry (booking) date has no year: take the one nearest the value date (a booking on
    2 January of a payment valued 31 December is in the next year)."""
    month, day = int(mmdd[:2]), int(mmdd[2:])
    candidates = []
    for year in (value_date.year - 1, value_date.year, value_date.year + 1):
        dd = calendar.monthrange(year, 2)[1] if month == 2 and 29 <= day <= 31 else day  # as _mt_date
        try:
            candidates.append(date(year, month, dd))
        except ValueError:
            raise StatementError(f"entry date '{mmdd}' is not a date (MMDD)", where) from None
    return min(candidates, key=lambda d: abs((d - value_date).days))


def _mt940_details(raw: list[str]) -> dict[str, str | None]:
    """Counterparty, reference and remittance from the :86: text lines of one statement line, in the
    structure the bank used: German ?NN subfields (Triodos: >NN), Dutch /KEY/ fields, mBank's
    '; KEY:' list, Knab's REK:/NAAM:, or free text."""
    if not raw:
        return {}
    tight = "".join(raw)  # structured fields wrap mid-word: join the lines as they are
    if re.match(r"\d{3}[?>]\d{2}", tight):
        return _german_details(re.sub(r">(\d{2})", r"?\1", tight) if tight[3] == ">" else tight)
    if _NL_SPLIT.match(tight):
        return _dutch_details(tight)
    free = " ".join(line.strip() for line in raw)
    if "TYT.:" in free and "OD:" in free:
        return _mbank_details("".join(raw))
    knab = re.search(r"REK: (?P<iban>[A-Z0-9]+)/NAAM: (?P<name>.+)$", free)
    if knab:
        return {"iban": _iban(knab["iban"]), "name": _clean(knab["name"]),
                "remittance": _clean(free[:knab.start()])}
    return {"remittance": _clean(free)}


def _german_details(text: str) -> dict[str, str | None]:
    """German ?NN subfields, read by mt-940's transaction_details_post_processor: ?32/?33 name,
    ?31 IBAN (or an old account number), ?30 BIC (or a bank code), ?20-?29 purpose with the SEPA
    keywords EREF+ (end-to-end id) and SVWZ+ (the remittance text), ?60-?63 more purpose."""
    tx = mt940.models.Transactions(options=_MT_OPTIONS)
    got = mt940.processors.transaction_details_post_processor(
        tx, None, {"transaction_details": text}, {"transaction_details": text})
    e2e = _clean(got.get("end_to_end_reference"))
    purpose = _clean(got.get("purpose"))
    if purpose is None:  # only keywords other than SVWZ: keep the ?20-?29 text as it stands
        purpose = _clean("".join(v for k, v in _subfields(text) if k.startswith("2")))
    more = _clean(got.get("additional_purpose"))
    remittance = " ".join(t for t in (purpose, more) if t) or None
    return {"name": _clean(got.get("applicant_name")), "iban": _iban(got.get("applicant_iban")),
            "bic": _bic(got.get("applicant_bin")), "remittance": remittance,
            "e2e": None if e2e in _NOT_PROVIDED else e2e}


def _subfields(text: str) -> list[tuple[str, str]]:
    parts = re.split(r"\?(\d{2})", text)
    return list(zip(parts[1::2], parts[2::2]))


def _dutch_details(text: str) -> dict[str, str | None]:
    """/KEY/value fields: /NAME/, /IBAN/, /BIC/, /REMI/, /EREF/; ING's /CNTP/IBAN/BIC/name/city/."""
    parts = _NL_SPLIT.split(text)
    values: dict[str, str] = {}
    for key, value in zip(parts[1::2], parts[2::2]):
        values.setdefault(key, value.strip().strip("/"))
    name, iban, bic = values.get("NAME"), values.get("IBAN"), values.get("BIC")
    if "CNTP" in values:
        cntp = (values["CNTP"].split("/") + ["", "", ""])[:3]
        iban, bic, name = iban or cntp[0], bic or cntp[1], name or cntp[2]
    remi = values.get("REMI") or ""
    remi = re.sub(r"^(USTD|STRD)/+", "", remi)
    e2e = _clean(values.get("EREF"))
    return {"name": _clean(name), "iban": _iban(iban), "bic": _bic(bic), "remittance": _clean(remi),
            "e2e": None if e2e in _NOT_PROVIDED else e2e}


def _mbank_details(text: str) -> dict[str, str | None]:
    """mBank (PL): '; '-separated KEY: value parts. Z RACH.: the payer's account number (NRB, the
    IBAN without 'PL'), OD: name and address (two spaces between), TYT.: the title (remittance)."""
    parts = {}
    for part in text.split(";"):
        key, sep, value = part.strip().partition(":")
        if sep:
            parts[key.strip()] = value
    nrb = re.sub(r"\D", "", parts.get("Z RACH.", ""))
    iban = "PL" + nrb if len(nrb) == 26 and stdnum_iban.is_valid("PL" + nrb) else None
    name = parts.get("OD", "").strip().split("  ")[0]
    return {"iban": iban, "name": _clean(name), "remittance": _clean(parts.get("TYT."))}


# --- CSV ------------------------------------------------------------------------------------------

CSV_COLUMNS = ("date", "amount", "currency", "counterparty_name", "counterparty_iban", "remittance",
               "reference")
CSV_REQUIRED = ("date", "amount", "currency")
_CSV_AMOUNT = re.compile(r"-?\d+(\.\d+)?")
_CSV_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")


def parse_csv(data: bytes) -> list[Statement]:
    """A CSV of lines (docs/bank-statements.md): header required; one statement per file."""
    try:
        text = data.removeprefix(b"\xef\xbb\xbf").decode("utf-8")
    except UnicodeDecodeError as err:
        line = data[:err.start].count(b"\n") + 1
        raise StatementError("the file is not UTF-8 text", f"line {line}", "syntax") from None
    first = next((ln for ln in text.splitlines() if ln.strip()), "")
    delimiter = ";" if ";" in first and "," not in first else ","
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter, strict=True)
    header: list[str] | None = None
    lines: list[StatementLine] = []
    currency = None
    end = 0  # the line the previous row ended on
    try:
        for row in reader:
            start, end = end + 1, reader.line_num
            if not any(cell.strip() for cell in row):
                continue
            if header is None:
                header = _csv_header(row, start)
                continue
            if len(row) != len(header):
                raise StatementError(f"{len(row)} cells, the header has {len(header)}", f"line {start}")
            cells = {name: cell.strip() for name, cell in zip(header, row)}
            line = _csv_line(cells, start)
            if currency is None:
                currency = line.currency
            elif line.currency != currency:
                raise StatementError(f"currency {line.currency} differs from the file's {currency} "
                                     f"(one statement, one currency)", f"line {start}, column 'currency'")
            lines.append(line)
    except csv.Error as err:
        raise StatementError(f"not valid CSV: {err}", f"line {reader.line_num}", "syntax") from None
    if header is None:
        raise StatementError("the file is empty", "line 1", "format")
    if not lines:
        raise StatementError("the file has a header but no lines", "line 1", "missing")
    canonical = "\n".join("\x1f".join([ln.booking_date.isoformat(), plain(ln.amount), ln.currency,
                                       ln.counterparty_name or "", ln.counterparty_iban or "",
                                       ln.remittance or "", ln.structured_reference or ""])
                          for ln in lines)
    days = [ln.booking_date for ln in lines]
    return [Statement(
        format="csv", statement_id=None, account_iban=None, account_id=None, currency=currency,
        opening_balance=None, closing_balance=None, opening_date=min(days), closing_date=max(days),
        lines=lines, sequence=None,
        fingerprint=hashlib.sha256(f"csv\x1f{canonical}".encode()).hexdigest())]


def _csv_header(row: list[str], line: int) -> list[str]:
    names = [cell.strip().lower() for cell in row]
    for name in names:
        if name not in CSV_COLUMNS:
            raise StatementError(f"'{name}' is not a column of the bank statement CSV (known: "
                                 f"{', '.join(CSV_COLUMNS)})", f"line {line}, column '{name}'")
        if names.count(name) > 1:
            raise StatementError("named twice", f"line {line}, column '{name}'")
    for name in CSV_REQUIRED:
        if name not in names:
            raise StatementError("missing from the header", f"line {line}, column '{name}'", "missing")
    return names


def _csv_line(cells: dict[str, str], line: int) -> StatementLine:
    def where(column: str) -> str:
        return f"line {line}, column '{column}'"

    for name in CSV_REQUIRED:
        if not cells[name]:
            raise StatementError("empty", where(name), "missing")
    if not _CSV_DATE.fullmatch(cells["date"]):
        raise StatementError(f"'{cells['date']}' is not a date (YYYY-MM-DD)", where("date"))
    try:
        day = date.fromisoformat(cells["date"])
    except ValueError:
        raise StatementError(f"'{cells['date']}' is not a real date", where("date")) from None
    currency = _currency(cells["currency"].upper(), where("currency"))
    text = cells["amount"]
    if not _CSV_AMOUNT.fullmatch(text):
        raise StatementError(f"'{text}' is not an amount (digits, a point for decimals, '-' for money "
                             f"going out)", where("amount"))
    amount = Decimal(text)
    if -amount.as_tuple().exponent > minor_units(currency):
        raise StatementError(f"'{text}' has more decimals than {currency} has ({minor_units(currency)})",
                             where("amount"))
    iban = cells.get("counterparty_iban") or None
    if iban:
        iban = re.sub(r"\s", "", iban).upper()
        if not _valid_iban(iban):
            raise StatementError(f"'{cells['counterparty_iban']}' is not a valid IBAN",
                                 where("counterparty_iban"))
    return StatementLine(
        booking_date=day, value_date=day, amount=amount, currency=currency,
        counterparty_name=cells.get("counterparty_name") or None, counterparty_iban=iban,
        remittance=cells.get("remittance") or None, structured_reference=cells.get("reference") or None,
        line_no=line)


@lru_cache(maxsize=4096)
def _valid_iban(iban: str) -> bool:
    return stdnum_iban.is_valid(iban)  # a customer's IBAN repeats down a statement: check it once


def write_csv(lines: list[StatementLine]) -> str:
    """The lines in the CSV format parse_csv reads (all columns, comma-separated)."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    for ln in lines:
        writer.writerow([ln.booking_date.isoformat(), format(ln.amount, "f"), ln.currency,
                         ln.counterparty_name or "", ln.counterparty_iban or "", ln.remittance or "",
                         ln.structured_reference or ""])
    return out.getvalue()
