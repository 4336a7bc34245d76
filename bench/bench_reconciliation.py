"""Reconciling a bank statement of N lines against M open invoices (o2c.receivables.matching.match).

No database: a seeded synthetic book (customers with names and known IBANs, open invoices) and a
statement whose every line was made from known invoices, in a mix of kinds (clean references, loose
or mistyped references, amount and account only, one payment for several invoices, short payments,
noise). Prints the time of match() (indexes included), lines/s, the auto / suggested / unmatched rates,
the precision of the auto matches against the generator's truth, and the same per kind.

    .venv/bin/python bench/bench_reconciliation.py                          # 100,000 x 200,000
    .venv/bin/python bench/bench_reconciliation.py --lines 10000 --invoices 20000 --seed 2
"""
from __future__ import annotations

import argparse
import gc
import os
import platform
import random
import resource
import time
from collections import Counter, defaultdict, deque
from datetime import date, timedelta
from decimal import Decimal

from o2c.core.runtime import tune_gc
from o2c.receivables.matching import AUTO, SUGGESTED, UNMATCHED, OpenInvoice, creditor_reference, match, match_rate
from o2c.receivables.statements import StatementLine

PAID_ON = date(2026, 3, 16)
TOLERANCE = Decimal("2.00")
# Kinds of line and their share of the statement.
MIX = (("clean reference", 0.60), ("loose or mistyped reference", 0.15), ("amount + IBAN only", 0.10),
       ("several invoices", 0.05), ("short or partial", 0.05), ("noise", 0.05))
ROUND_AMOUNTS = [Decimal(a) for a in (50, 100, 150, 200, 250, 300, 500, 750, 1000, 1500, 2000, 2500, 5000)]
SYLLABLES = "ka ro tek mar lin vo sen ber gal dor fi nus pra ta qui lex mo zan hel wy ost rim cal bo".split()
TRADES = "Bau Logistik Trading Foods Metall Systems Textil Holz Pharma Design Motors Energy Data Retail".split()
FORMS = ["GmbH", "AG", "Ltd", "B.V.", "SA", "Inc", "GmbH & Co. KG", ""]
# Noise comes from people and bodies that are not customers.
FIRST = "Anna Jan Maria Peter Sofia Lukas Emma Noah Mia Paul Lea Tom Eva Max Ida".split()
LAST = "Schmidt Jansen Dubois Rossi Nowak Berg Koch Visser Weber Meyer Hofer Laurent".split()
BODIES = ["Finanzamt Mitte", "PayPal Europe S.a r.l.", "Stadtwerke", "AOK Nordost", "Amazon Payments Europe"]


def company_name(rnd: random.Random) -> str:
    word = "".join(rnd.choice(SYLLABLES) for _ in range(rnd.randint(2, 3))).capitalize()
    return " ".join(w for w in (word, rnd.choice(TRADES), rnd.choice(FORMS)) if w)


def iban(rnd: random.Random) -> str:
    # Shape only: the matcher compares IBANs as written and never checks their digits.
    return rnd.choice(["DE", "NL", "FR", "AT"]) + f"{rnd.randint(10, 99)}" + "".join(
        rnd.choice("0123456789") for _ in range(18))


def cents(rnd: random.Random, low: float, high: float) -> Decimal:
    return Decimal(round(10 ** rnd.uniform(low, high) * 100)).scaleb(-2)


def book(rnd: random.Random, n_customers: int, n_invoices: int):
    names = {c: company_name(rnd) for c in range(1, n_customers + 1)}
    ibans = {c: iban(rnd) for c in names}
    accounts = {ibans[c]: c for c in names if rnd.random() < 0.85}  # 15% of customers: account not on file
    big = list(range(1, max(2, n_customers // 100) + 1))  # 1% of customers hold a fifth of the invoices
    counters = list(range(1, n_invoices + 1))
    invoices = []
    for i, counter in enumerate(counters, 1):
        customer = rnd.choice(big) if rnd.random() < 0.2 else rnd.randint(1, n_customers)
        amount = rnd.choice(ROUND_AMOUNTS) if rnd.random() < 0.15 else cents(rnd, 1.3, 4.3)
        issued = date(2026, 1, 1) + timedelta(days=rnd.randint(0, 74))
        discount, until = Decimal(0), None
        if rnd.random() < 0.2:  # 2/10 net 30
            discount, until = (amount * Decimal("0.02")).quantize(Decimal("0.01")), issued + timedelta(days=10)
        invoices.append(OpenInvoice(i, f"INV-2026-{counter:06d}", customer, "USD" if rnd.random() < 0.05 else "EUR",
                                    amount, issued + timedelta(days=30), issued, amount, discount, until))
    return names, ibans, accounts, invoices


def loose(number: str, rnd: random.Random, text_only: bool = False) -> tuple[str, str | None]:
    """(remittance, structured reference) naming the invoice in a loose but exact form."""
    prefix, year, counter = number.split("-")
    form = rnd.choice([0, 1, 2, 4] if text_only else [0, 1, 2, 3, 4])
    if form == 0:
        return f"inv {year} {int(counter)}", None
    if form == 1:
        return f"Rechnung {prefix}{year}{counter}", None
    if form == 2:
        return f"re {prefix.lower()}/{year}/{int(counter)} danke", None
    if form == 3:
        return "Payment", creditor_reference(number)
    return f"Invoice {year}-{counter}", None


def mistype(number: str, rnd: random.Random) -> str:
    prefix, year, counter = number.split("-")
    digits = list(counter.lstrip("0"))
    i = rnd.randrange(len(digits))
    kind = rnd.randrange(3)
    if kind == 0 and len(digits) > 1:
        j = min(i + 1, len(digits) - 1) if i + 1 < len(digits) else i - 1
        digits[i], digits[j] = digits[j], digits[i]
    elif kind == 1 and len(digits) > 1:
        del digits[i]
    else:
        digits[i] = rnd.choice([d for d in "0123456789" if d != digits[i]])
    return f"Invoice {prefix}-{year}-{''.join(digits).zfill(6)}"


def statement(rnd: random.Random, n_lines: int, names, ibans, accounts, invoices):
    shuffled = invoices[:]
    rnd.shuffle(shuffled)
    pool = deque(shuffled)
    used: set[int] = set()
    by_customer = defaultdict(list)
    for inv in shuffled:
        by_customer[inv.customer_id, inv.currency].append(inv)

    def take(want=lambda inv: True) -> OpenInvoice:
        while True:
            inv = pool.pop()
            if inv.invoice_id not in used and want(inv):
                used.add(inv.invoice_id)
                return inv
            if inv.invoice_id not in used:
                pool.appendleft(inv)  # not this kind: back to the far end of the pool

    def payer(customer: int, known: float) -> str | None:
        return ibans[customer] if rnd.random() < known else iban(rnd)

    lines, truth, kinds = [], [], []
    weights = [w for _, w in MIX]
    for _ in range(n_lines):
        kind = rnd.choices([k for k, _ in MIX], weights)[0]
        remittance, reference, amount = None, None, None
        if kind == "noise":
            who = rnd.choice(BODIES) if rnd.random() < 0.3 else f"{rnd.choice(FIRST)} {rnd.choice(LAST)}"
            amount = cents(rnd, 0.5, 4.0)
            remittance = rnd.choice(["Refund", f"Order {rnd.randint(1000, 99999)}", "Rent March",
                                     f"Gutschrift {PAID_ON.isoformat()}", None])
            lines.append(StatementLine(PAID_ON, PAID_ON, amount, "EUR", who, iban(rnd), None, remittance))
            truth.append(None)
            kinds.append(kind)
            continue
        if kind == "several invoices":
            first = take(lambda inv: len(by_customer[inv.customer_id, inv.currency]) >= 4)
            group = [first] + [inv for inv in by_customer[first.customer_id, first.currency]
                               if inv.invoice_id not in used][:rnd.randint(1, 3)]
            used.update(inv.invoice_id for inv in group)
            amount = sum((inv.open_amount for inv in group), Decimal(0))
            remittance = ", ".join(inv.number if rnd.random() < 0.7 else loose(inv.number, rnd, text_only=True)[0]
                                   for inv in group)
            known = 0.8
        elif kind == "short or partial":
            how = rnd.randrange(3)
            if how == 0:  # the bank's charges or a rounding off the amount
                group = [take()]
                amount = group[0].open_amount - Decimal(rnd.randint(1, 200)).scaleb(-2)
            elif how == 1:  # early-payment discount taken in time
                group = [take(lambda inv: inv.discount > 0 and inv.discount_until >= PAID_ON)]
                amount = group[0].open_amount - group[0].discount
            else:  # part of it
                group = [take()]
                amount = (group[0].open_amount / 2).quantize(Decimal("0.01"))
            remittance, known = f"Invoice {group[0].number}", 0.8
        else:
            group = [take()]
            amount = group[0].open_amount
            number = group[0].number
            if kind == "clean reference":
                remittance = rnd.choice(["Invoice {}", "{}", "Payment {} thank you", "INV {}", "Rechnung {}"]
                                        ).format(number)
                known = 0.85
            elif kind == "loose or mistyped reference":
                if rnd.random() < 0.5:
                    remittance, reference = loose(number, rnd)
                else:
                    remittance = mistype(number, rnd)
                known = 0.7
            else:  # amount + IBAN only
                remittance, known = rnd.choice(["Payment", "Zahlung", "Thanks", None]), 1.0
        inv = group[0]
        name = names[inv.customer_id]
        lines.append(StatementLine(PAID_ON, PAID_ON, amount, inv.currency,
                                   name.upper() if rnd.random() < 0.3 else name,
                                   payer(inv.customer_id, known), None, remittance, reference))
        truth.append(frozenset(i.invoice_id for i in group))
        kinds.append(kind)
    return lines, truth, kinds


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--lines", type=int, default=100_000)
    ap.add_argument("--invoices", type=int, default=200_000)
    ap.add_argument("--customers", type=int, default=20_000)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--default-gc", action="store_true",
                    help="leave Python's collector thresholds as they are (o2c processes tune them)")
    args = ap.parse_args()
    if not args.default_gc:
        tune_gc()
    rnd = random.Random(args.seed)
    command = (f".venv/bin/python bench/bench_reconciliation.py --lines {args.lines} --invoices {args.invoices} "
               f"--customers {args.customers} --seed {args.seed}{' --default-gc' if args.default_gc else ''}")
    print("== Reconciliation: a bank statement against open invoices (pure Python) ==")
    print(f"command: {command}")
    print(f"machine: {os.cpu_count()} cores, Python {platform.python_version()}, "
          f"load average before {os.getloadavg()[0]:.2f}; gc thresholds {gc.get_threshold()}")
    t0 = time.perf_counter()
    names, ibans, accounts, invoices = book(rnd, args.customers, args.invoices)
    lines, truth, kinds = statement(rnd, args.lines, names, ibans, accounts, invoices)
    print(f"data: {len(invoices):,} open invoices of {len(names):,} customers ({len(accounts):,} IBANs on "
          f"file), {len(lines):,} lines; tolerance {TOLERANCE}; generated in {time.perf_counter() - t0:.1f} s "
          f"(not timed)")

    rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    wall, cpu = time.perf_counter(), time.process_time()
    proposals = match(lines, invoices, accounts, names, tolerance=TOLERANCE)
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu

    rate = match_rate(proposals)
    rss_after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"match(): {wall:.2f} s ({cpu:.2f} s CPU), {len(lines) / wall:,.0f} lines/s; peak RSS "
          f"{rss_before:,.0f} MB with the data made, {rss_after:,.0f} MB after match()")
    print(f"auto {rate['auto']:,} ({rate['auto_rate']:.2%}), suggested {rate['suggested']:,} "
          f"({rate['suggested_rate']:.2%}), unmatched {rate['unmatched']:,} ({rate['unmatched_rate']:.2%})")

    def right(p, t) -> bool:
        return t is not None and frozenset(i for i, _ in p.allocations) == t

    autos = [(p, t) for p, t in zip(proposals, truth) if p.status == AUTO]
    wrong = sum(1 for p, t in autos if not right(p, t))
    print(f"precision of auto matches: {len(autos) - wrong:,} of {len(autos):,} right "
          f"({(len(autos) - wrong) / max(1, len(autos)):.3%}); {wrong} wrong")
    suggested = [(p, t) for p, t in zip(proposals, truth) if p.status == SUGGESTED]
    top = sum(1 for p, t in suggested if right(p, t))
    print(f"suggestions whose first proposal is right: {top:,} of {len(suggested):,} "
          f"({top / max(1, len(suggested)):.1%})")

    print(f"{'kind':30} {'lines':>7} {'auto':>7} {'sugg.':>7} {'unm.':>7} {'auto right':>11} {'sugg. right':>12}")
    by_kind: dict[str, Counter] = defaultdict(Counter)
    for p, t, k in zip(proposals, truth, kinds):
        c = by_kind[k]
        c["lines"] += 1
        c[p.status] += 1
        if right(p, t):
            c[p.status + " right"] += 1
    for kind, _ in MIX:
        c = by_kind[kind]
        n = max(1, c["lines"])
        print(f"{kind:30} {c['lines']:7,} {c[AUTO] / n:7.1%} {c[SUGGESTED] / n:7.1%} {c[UNMATCHED] / n:7.1%} "
              f"{c[AUTO + ' right'] / max(1, c[AUTO]):11.2%} {c[SUGGESTED + ' right'] / max(1, c[SUGGESTED]):12.1%}")


if __name__ == "__main__":
    main()
