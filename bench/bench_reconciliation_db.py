"""Importing a bank statement on PostgreSQL: o2c.receivables.service.import_statement with N lines
against M open invoices, from the camt.053 file to the payments booked.

The book and the statement are bench_reconciliation.py's generator (same seed, same kinds of line), all
in EUR (one currency per customer account, as payments require). The company's customers (with their
IBANs on file), one order, shipment and invoice per open invoice and each invoice's journal entry
(Dr receivables, Cr revenue) are inserted with server-side SQL, consistent by construction (the
foreign-key triggers are skipped while seeding, then ANALYZE). The statement is written as a camt.053
file and imported the way `POST /bank-statements` and `o2c import statement` do: one transaction that
reads the file, stores the statement and its lines, matches them and books the first batch of auto
lines; then `book_pending` books the other auto lines, 500 per transaction of its own (each payment
with its ledger entry, settlements, timeline record and event).

Prints the time of the import and of its phases, the auto-match rate, the precision of the payments
against the generator's truth, and checks the books afterwards (trial balance, receivables control
against the subledger); then imports the same file again (refused: nothing doubles).

    .venv/bin/python bench/bench_reconciliation_db.py                   # 100,000 lines x 200,000 invoices
    .venv/bin/python bench/bench_reconciliation_db.py --lines 10000 --invoices 20000 --customers 2000
"""
from __future__ import annotations

import argparse
import random
import resource
import sys
import time
from collections import Counter
from dataclasses import replace
from datetime import datetime, timezone
from decimal import Decimal
from pathlib import Path
from xml.sax.saxutils import escape

from sqlalchemy import create_engine, func, select, text

sys.path.insert(0, str(Path(__file__).resolve().parent))
import bench_reconciliation as gen  # noqa: E402
from common import CHICAGO, analyze, command_line, log, machine, throwaway_db  # noqa: E402

CURRENCY = "EUR"
TODAY = datetime(2026, 3, 20, 9, 0, tzinfo=timezone.utc)  # the statement is of 16 March


def seed(url: str, names: dict, accounts: dict, invoices: list) -> tuple[int, object]:
    """The company, its cashier, customers, IBANs on file, and the open invoices with their orders,
    shipments and journal entries. Returns the company id and the cashier as an actor."""
    from o2c.core.auth import SYSTEM, actor_for_user, create_user
    from o2c.core.db import transaction
    from o2c.core.setup import create_company
    from o2c.inventory import service as inventory
    from o2c.inventory.schemas import WarehouseIn
    from o2c.ledger import service as ledger

    def base(s):
        company, _ = create_company(s, "RECON", "Recon Supply GmbH", CURRENCY, "DE", "Europe/Berlin", admin=None)
        user = create_user(s, "cashier", ["receivables"], [company.id])
        wh = inventory.create_warehouse(s, SYSTEM, company.id, WarehouseIn(code="MAIN", address=CHICAGO))
        ledger.chart(s, company.id)  # the default chart, stored
        return company.id, user.id, wh.id

    company_id, user_id, wh_id = transaction(base)
    eng = create_engine(url)
    t0 = time.perf_counter()
    gen_customers = sorted(names)
    with eng.begin() as c:
        c.execute(text("SET LOCAL session_replication_role = replica"))
        c.execute(text("SET LOCAL synchronous_commit = off"))
        ids = c.execute(text("""
            INSERT INTO customers (code, legal_name, created_at)
            SELECT 'C' || lpad(t.i::text, 6, '0'), t.n, now()
            FROM unnest(CAST(:names AS text[])) WITH ORDINALITY AS t(n, i) ORDER BY t.i RETURNING id, code"""),
            {"names": [names[g] for g in gen_customers]}).all()
        db_customer = {g: dict((code, cid) for cid, code in ids)[f"C{i:06d}"] for i, g in enumerate(gen_customers, 1)}
        c.execute(text("""
            INSERT INTO customer_accounts (company_id, customer_id, currency, payment_terms_days, dunning_opt_out,
                tax_exempt, ship_complete, discount_pct, active, created_at)
            SELECT :company, id, :ccy, 30, false, false, false, 0, true, now() FROM unnest(CAST(:ids AS bigint[])) id"""),
            {"company": company_id, "ccy": CURRENCY, "ids": list(db_customer.values())})
        c.execute(text("""
            INSERT INTO customer_bank_accounts (customer_id, iban, created_at)
            SELECT c, i, now() FROM unnest(CAST(:cs AS bigint[]), CAST(:ibans AS text[])) AS t(c, i)"""),
            {"cs": [db_customer[g] for g in accounts.values()], "ibans": list(accounts)})
        # One confirmed order, one shipped shipment and one invoice (posted) per open invoice.
        c.execute(text("""
            CREATE TEMP TABLE seed_inv ON COMMIT DROP AS
            SELECT * FROM unnest(CAST(:numbers AS text[]), CAST(:seqs AS int[]), CAST(:customers AS bigint[]),
                                 CAST(:amounts AS numeric[]), CAST(:issued AS date[]), CAST(:due AS date[]),
                                 CAST(:terms AS text[]))
                AS t(number, seq, customer_id, gross, issue_date, due_date, terms)"""), {
            "numbers": [inv.number for inv in invoices], "seqs": [int(inv.number[-6:]) for inv in invoices],
            "customers": [db_customer[inv.customer_id] for inv in invoices],
            "amounts": [inv.gross for inv in invoices], "issued": [inv.issue_date for inv in invoices],
            "due": [inv.due_date for inv in invoices],
            "terms": ["2/10 net 30" if inv.discount else "net 30" for inv in invoices]})
        c.execute(text("""
            WITH o AS (
                INSERT INTO orders (company_id, customer_id, channel, po_number, currency, status, ship_to_name,
                    ship_to_line1, ship_to_city, ship_to_region, ship_to_postal_code, ship_to_country, order_date,
                    subtotal, discount_total, tax_total, total, needed_correction, auto_confirm, order_discount,
                    entered_by, created_at, updated_at, confirmed_at, version)
                SELECT :company, customer_id, 'edi', number, :ccy, 'confirmed', 'Receiving', '100 W Randolph St',
                    'Chicago', 'IL', '60601', 'US', issue_date, gross, 0, 0, gross, false, true, 0, :user, now(),
                    now(), now(), 1
                FROM seed_inv ORDER BY seq RETURNING id, po_number),
            s AS (
                INSERT INTO shipments (company_id, order_id, warehouse_id, kind, status, ship_to_name, ship_to_line1,
                    ship_to_city, ship_to_region, ship_to_postal_code, ship_to_country, shipped_at, created_at,
                    updated_at, version)
                SELECT :company, o.id, :wh, 'order', 'shipped', 'Receiving', '100 W Randolph St', 'Chicago', 'IL',
                    '60601', 'US', now(), now(), now(), 1 FROM o RETURNING id, order_id),
            e AS (
                INSERT INTO journal_entries (company_id, number, date, memo, source_kind, source_id, currency,
                    created_at)
                SELECT :company, i.seq, i.issue_date, 'Invoice ' || i.number, 'invoice', i.number, :ccy, now()
                FROM seed_inv i RETURNING id, source_id),
            l AS (
                INSERT INTO journal_lines (entry_id, account_code, debit, credit, customer_id, open_item)
                SELECT e.id, x.code, x.debit, x.credit, x.customer_id, x.item
                FROM e JOIN seed_inv i ON i.number = e.source_id
                CROSS JOIN LATERAL (VALUES ('1100', i.gross, 0, i.customer_id, i.number),
                                           ('4000', 0, i.gross, NULL::bigint, NULL::text)) AS x(code, debit, credit,
                                                                                              customer_id, item)
                RETURNING 1)
            INSERT INTO invoices (company_id, number, series, year, seq, customer_id, issue_date, currency,
                net_total, tax_total, gross_total, journal_entry_id, created_at, order_id, shipment_id, due_date,
                terms, status)
            SELECT :company, i.number, 'INV', 2026, i.seq, i.customer_id, i.issue_date, :ccy, i.gross, 0, i.gross,
                e.id, now(), o.id, s.id, i.due_date, i.terms, 'issued'
            FROM seed_inv i JOIN o ON o.po_number = i.number JOIN s ON s.order_id = o.id
            JOIN e ON e.source_id = i.number"""), {"company": company_id, "ccy": CURRENCY, "user": user_id, "wh": wh_id})
        c.execute(text("INSERT INTO journal_counters (company_id, next_number) VALUES (:c, :n)"),
                  {"c": company_id, "n": len(invoices) + 1})
        c.execute(text("INSERT INTO document_series (company_id, series, year, next_number) VALUES (:c, 'INV', 2026, :n)"),
                  {"c": company_id, "n": len(invoices) + 1})
    analyze(url)
    log(f"seeded {len(names):,} customers ({len(accounts):,} IBANs on file), {len(invoices):,} invoices with their "
        f"orders, shipments and journal entries in {time.perf_counter() - t0:.1f} s")
    from o2c.core.db import read_session
    from o2c.core.models import User

    with read_session() as s:
        return company_id, actor_for_user(s, s.get(User, user_id))


def camt053(lines: list, stmt_id: str = "BENCH-2026-03-16") -> bytes:
    """The lines as one camt.053.001.08 statement (opening balance 0, closing balance their sum)."""
    total = sum((ln.amount for ln in lines), Decimal(0))
    parts = [f"""<?xml version="1.0" encoding="UTF-8"?>
<Document xmlns="urn:iso:std:iso:20022:tech:xsd:camt.053.001.08"><BkToCstmrStmt>
<GrpHdr><MsgId>{stmt_id}</MsgId><CreDtTm>2026-03-16T20:00:00</CreDtTm></GrpHdr>
<Stmt><Id>{stmt_id}</Id><ElctrncSeqNb>75</ElctrncSeqNb>
<Acct><Id><IBAN>DE02120300000000202051</IBAN></Id><Ccy>{CURRENCY}</Ccy></Acct>
<Bal><Tp><CdOrPrtry><Cd>OPBD</Cd></CdOrPrtry></Tp><Amt Ccy="{CURRENCY}">0.00</Amt><CdtDbtInd>CRDT</CdtDbtInd><Dt><Dt>2026-03-16</Dt></Dt></Bal>
<Bal><Tp><CdOrPrtry><Cd>CLBD</Cd></CdOrPrtry></Tp><Amt Ccy="{CURRENCY}">{total}</Amt><CdtDbtInd>CRDT</CdtDbtInd><Dt><Dt>2026-03-16</Dt></Dt></Bal>
"""]
    for i, ln in enumerate(lines, 1):
        party = f"<Dbtr><Pty><Nm>{escape(ln.counterparty_name)}</Nm></Pty></Dbtr>" if ln.counterparty_name else ""
        if ln.counterparty_iban:
            party += f"<DbtrAcct><Id><IBAN>{ln.counterparty_iban}</IBAN></Id></DbtrAcct>"
        rmt = f"<Ustrd>{escape(ln.remittance)}</Ustrd>" if ln.remittance else ""
        if ln.structured_reference:
            rmt += f"<Strd><CdtrRefInf><Ref>{ln.structured_reference}</Ref></CdtrRefInf></Strd>"
        parts.append(
            f"<Ntry><NtryRef>{i}</NtryRef><Amt Ccy=\"{CURRENCY}\">{ln.amount}</Amt><CdtDbtInd>CRDT</CdtDbtInd>"
            f"<Sts><Cd>BOOK</Cd></Sts><BookgDt><Dt>{ln.booking_date}</Dt></BookgDt><ValDt><Dt>{ln.value_date}</Dt>"
            f"</ValDt><AcctSvcrRef>B{i:09d}</AcctSvcrRef><BkTxCd><Domn><Cd>PMNT</Cd><Fmly><Cd>RCDT</Cd><SubFmlyCd>"
            f"ESCT</SubFmlyCd></Fmly></Domn></BkTxCd><NtryDtls><TxDtls><Refs><EndToEndId>NOTPROVIDED</EndToEndId>"
            f"</Refs><RltdPties>{party}</RltdPties><RmtInf>{rmt}</RmtInf></TxDtls></NtryDtls></Ntry>\n")
    parts.append("</Stmt></BkToCstmrStmt></Document>\n")
    return "".join(parts).encode()


class Phases:
    """Wall time spent in the import's phases (the service's own functions, wrapped)."""

    def __init__(self):
        self.seconds: Counter = Counter()
        self.calls: Counter = Counter()
        self.longest: Counter = Counter()

    def wrap(self, module, name: str, label: str) -> None:
        fn = getattr(module, name)

        def timed(*a, **kw):
            t = time.perf_counter()
            try:
                return fn(*a, **kw)
            finally:
                took = time.perf_counter() - t
                self.seconds[label] += took
                self.calls[label] += 1
                self.longest[label] = max(self.longest[label], took)

        setattr(module, name, timed)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--lines", type=int, default=100_000)
    ap.add_argument("--invoices", type=int, default=200_000)
    ap.add_argument("--customers", type=int, default=20_000)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--keep-db", action="store_true")
    args = ap.parse_args()
    from o2c.core.runtime import tune_gc

    tune_gc()
    print("== Reconciliation on PostgreSQL: import_statement from the camt.053 file to the payments booked ==")
    print(f"command: {command_line()}")
    print(f"machine: {machine()}; load average before {__import__('os').getloadavg()[0]:.2f}")
    rnd = random.Random(args.seed)
    names, ibans, accounts, invoices = gen.book(rnd, args.customers, args.invoices)
    invoices = [replace(inv, currency=CURRENCY) for inv in invoices]
    lines, truth, kinds = gen.statement(rnd, args.lines, names, ibans, accounts, invoices)
    data = camt053(lines)
    log(f"statement: {len(lines):,} lines, camt.053 of {len(data) / 1e6:.1f} MB")

    with throwaway_db("recon", keep=args.keep_db) as url:
        company_id, cashier = seed(url, names, accounts, invoices)
        from o2c.core import clock
        from o2c.core.db import read_session, transaction
        from o2c.core.errors import Conflict
        from o2c.ledger import service as ledger
        from o2c.payments.models import Settlement
        from o2c.receivables import matching, service
        from o2c.receivables.models import BankStatementLine

        clock.freeze(TODAY)
        phases = Phases()
        phases.wrap(service, "read", "read the file")
        phases.wrap(service, "open_book", "load open invoices, IBANs, names")
        phases.wrap(matching, "match", "match")
        phases.wrap(service, "_book_batch", "book auto lines (batches)")
        rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        wall, cpu = time.perf_counter(), time.process_time()
        result = transaction(lambda s: service.import_statement(s, cashier, company_id, data, "bench.xml"))
        stored = time.perf_counter() - wall
        booking = service.book_pending(cashier, company_id, [st.id for st in result.statements])
        wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
        booked = wall - stored
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        [st] = result.statements
        with read_session() as s:
            counts = service.statement_views(s, [st])[0]["counts"]
            n_auto = s.scalar(select(func.count()).select_from(BankStatementLine).where(
                BankStatementLine.statement_id == st.id, BankStatementLine.status == "auto"))
        incoming = sum(n for k, n in counts.items() if k != "not_incoming")
        print(f"import: {wall:.1f} s ({cpu:.1f} s CPU in Python), {len(lines) / wall:,.0f} lines/s; peak RSS "
              f"{rss:,.0f} MB before, {peak:,.0f} MB after")
        print(f"  the import's transaction (with the first batch)  {stored:7.1f} s")
        print(f"  book_pending, the other batches                  {booked:7.1f} s ({booking.booked:,} booked, "
              f"{booking.held:,} held back)")
        for label, seconds in phases.seconds.items():
            print(f"  {label:40} {seconds:7.1f} s  ({phases.calls[label]:,} calls, longest "
                  f"{phases.longest[label]:.2f} s)")
        print(f"lines: {counts}; auto-match rate {service.auto_rate(counts):.2%} of {incoming:,} incoming")
        book = phases.seconds["book auto lines (batches)"]
        print(f"booked {n_auto:,} payments in {book:.1f} s of batches: {n_auto / book:,.0f} payments/s, "
              f"{book / max(n_auto, 1) * 1000:.2f} ms each; the counters held at most "
              f"{phases.longest['book auto lines (batches)']:.2f} s at a time")

        with read_session() as s:
            paid = {}
            for seq, invoice_id in s.execute(
                    select(BankStatementLine.seq, Settlement.invoice_id)
                    .join(Settlement, Settlement.payment_id == BankStatementLine.payment_id)
                    .where(BankStatementLine.statement_id == st.id, BankStatementLine.status == "auto",
                           Settlement.kind == "payment")):
                paid.setdefault(seq, set()).add(invoice_id)
            number_of = dict(s.execute(text("SELECT id, number FROM invoices WHERE company_id = :c"),
                                       {"c": company_id}).all())
            by_number = {inv.number: inv.invoice_id for inv in invoices}
            right = sum(1 for seq, ids in paid.items()
                        if truth[seq - 1] == frozenset(by_number[number_of[i]] for i in ids))
            tb = ledger.trial_balance(s, company_id)
            ar = ledger.ar_check(s, company_id)
            n_payments = s.scalar(text("SELECT count(*) FROM payments"))
        print(f"payments: {n_payments:,}; auto lines paying exactly the generator's invoices: {right:,} of "
              f"{len(paid):,}")
        print(f"books: trial balance balanced {all(t['balanced'] for t in tb)}, receivables control = subledger "
              f"{all(a['agrees'] for a in ar)}")
        t = time.perf_counter()
        try:
            transaction(lambda s: service.import_statement(s, cashier, company_id, data, "bench.xml"))
            print("the same file again: IMPORTED TWICE (wrong)")
        except Conflict as exc:
            print(f"the same file again: refused in {time.perf_counter() - t:.1f} s ({exc.detail[:90]}...)")
        with read_session() as s:
            assert s.scalar(select(func.count()).select_from(BankStatementLine)) == len(lines)
        by_kind = Counter()
        with read_session() as s:
            statuses = dict(s.execute(select(BankStatementLine.seq, BankStatementLine.status)
                                      .where(BankStatementLine.statement_id == st.id)).all())
        for seq, kind in enumerate(kinds, 1):
            by_kind[kind, statuses[seq]] += 1
        print(f"{'kind':30} {'lines':>7} {'auto':>7} {'sugg.':>7} {'unm.':>7}")
        for kind, _ in gen.MIX:
            n = sum(v for (k, _), v in by_kind.items() if k == kind) or 1
            print(f"{kind:30} {n:7,} {by_kind[kind, 'auto'] / n:7.1%} {by_kind[kind, 'suggested'] / n:7.1%} "
                  f"{by_kind[kind, 'unmatched'] / n:7.1%}")
        clock.freeze(None)


if __name__ == "__main__":
    main()
