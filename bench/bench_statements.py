"""Reading a large bank statement: camt.053, MT940 (German structured :86:) and CSV of N lines.

No database: generates one statement per format in memory, parses it with o2c.receivables.statements
and prints lines/s (and with --memory the peak memory of a second, untimed parse). Bounded: one
or two parses per format.

    .venv/bin/python bench/bench_statements.py            # 100,000 lines, about a minute
    .venv/bin/python bench/bench_statements.py --lines 10000 --memory
"""
from __future__ import annotations

import argparse
import random
import time
import tracemalloc
from datetime import date, timedelta
from decimal import Decimal

from o2c.receivables.statements import StatementLine, parse, write_csv

IBANS = ["DE89370400440532013000", "NL91ABNA0417164300", "GB29NWBK60161331926819"]


def amounts(n: int) -> list[Decimal]:
    rnd = random.Random(7)
    return [Decimal(rnd.randint(-500_000, 2_000_000)).scaleb(-2) for _ in range(n)]


def camt(values: list[Decimal]) -> bytes:
    entries = []
    for i, v in enumerate(values):
        ind = "CRDT" if v >= 0 else "DBIT"
        party = "Dbtr" if v >= 0 else "Cdtr"
        entries.append(
            f"<Ntry><Amt Ccy=\"EUR\">{abs(v)}</Amt><CdtDbtInd>{ind}</CdtDbtInd><Sts><Cd>BOOK</Cd></Sts>"
            f"<BookgDt><Dt>2026-03-02</Dt></BookgDt><ValDt><Dt>2026-03-02</Dt></ValDt>"
            f"<AcctSvcrRef>REF{i}</AcctSvcrRef><NtryDtls><TxDtls><Refs><EndToEndId>E2E{i}</EndToEndId></Refs>"
            f"<RltdPties><{party}><Pty><Nm>Customer {i % 997}</Nm></Pty></{party}><{party}Acct><Id>"
            f"<IBAN>{IBANS[i % 3]}</IBAN></Id></{party}Acct></RltdPties>"
            f"<RmtInf><Ustrd>Invoice INV-2026-{i:06d}</Ustrd></RmtInf></TxDtls></NtryDtls></Ntry>")
    closing = sum(values, Decimal(0))
    return (
        '<?xml version="1.0" encoding="UTF-8"?><Document xmlns="urn:iso:std:iso:20022:tech:xsd:camt.053.001.08">'
        "<BkToCstmrStmt><GrpHdr><MsgId>BENCH</MsgId><CreDtTm>2026-03-02T20:00:00</CreDtTm></GrpHdr>"
        "<Stmt><Id>BENCH-1</Id><ElctrncSeqNb>1</ElctrncSeqNb><CreDtTm>2026-03-02T20:00:00</CreDtTm>"
        "<Acct><Id><IBAN>DE02120300000000202051</IBAN></Id><Ccy>EUR</Ccy></Acct>"
        "<Bal><Tp><CdOrPrtry><Cd>OPBD</Cd></CdOrPrtry></Tp><Amt Ccy=\"EUR\">0.00</Amt><CdtDbtInd>CRDT</CdtDbtInd>"
        "<Dt><Dt>2026-03-02</Dt></Dt></Bal>"
        f"<Bal><Tp><CdOrPrtry><Cd>CLBD</Cd></CdOrPrtry></Tp><Amt Ccy=\"EUR\">{abs(closing)}</Amt>"
        f"<CdtDbtInd>{'CRDT' if closing >= 0 else 'DBIT'}</CdtDbtInd><Dt><Dt>2026-03-02</Dt></Dt></Bal>"
        + "".join(entries) + "</Stmt></BkToCstmrStmt></Document>").encode()


def mt940(values: list[Decimal]) -> bytes:
    def money(v: Decimal) -> str:
        return f"{abs(v):.2f}".replace(".", ",")

    out = [":20:BENCH", ":25:DE02120300000000202051", ":28C:1/1", ":60F:C260302EUR0,00"]
    for i, v in enumerate(values):
        out.append(f":61:2603020302{'C' if v >= 0 else 'D'}{money(v)}NTRFNONREF//B{i}")
        out.append(f":86:166?00GUTSCHRIFT?100399?20EREF+E2E{i}?21SVWZ+Invoice INV-2026-{i:06d}"
                   f"?30COBADEFFXXX?31{IBANS[i % 3]}?32Customer {i % 997}")
    closing = sum(values, Decimal(0))
    out += [f":62F:{'C' if closing >= 0 else 'D'}260302EUR{money(closing)}", "-"]
    return "\r\n".join(out).encode()


def csv_file(values: list[Decimal]) -> bytes:
    start = date(2026, 3, 1)
    return write_csv([StatementLine(booking_date=start + timedelta(days=i % 28), value_date=None, amount=v,
                                    currency="EUR", counterparty_name=f"Customer {i % 997}",
                                    counterparty_iban=IBANS[i % 3], remittance=f"Invoice INV-2026-{i:06d}")
                      for i, v in enumerate(values)]).encode()


def measure(name: str, data: bytes, n: int, memory: bool) -> None:
    t0 = time.perf_counter()
    [statement] = parse(data)
    seconds = time.perf_counter() - t0
    assert len(statement.lines) == n
    figures = f"{name:9} {len(data) / 1e6:6.1f} MB  {seconds:6.2f} s  {n / seconds:9,.0f} lines/s"
    if memory:  # a second parse under tracemalloc, which slows it about tenfold: not timed
        tracemalloc.start()
        parse(data)
        figures += f"  peak {tracemalloc.get_traced_memory()[1] / 1e6:5.0f} MB allocated while parsing"
        tracemalloc.stop()
    print(figures)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--lines", type=int, default=100_000)
    ap.add_argument("--memory", action="store_true", help="also the peak memory of a parse (slow)")
    args = ap.parse_args()
    n = args.lines
    values = amounts(n)
    print(f"bench_statements: one statement of {n:,} lines per format (.venv/bin/python "
          f"bench/bench_statements.py --lines {n}{' --memory' if args.memory else ''})")
    for name, make in (("camt.053", camt), ("mt940", mt940), ("csv", csv_file)):
        measure(name, make(values), n, args.memory)


if __name__ == "__main__":
    main()
