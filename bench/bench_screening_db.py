"""Sanctions screening on PostgreSQL, end to end: load the full 2019 OFAC SDN snapshot with
`o2c.compliance.service.load_list` (parse, store 7,379 entries, re-screen every customer, open hits,
place holds) against a book of N customers, then a second list (the snapshot plus one entry), the
index rebuilt from the stored entries as a fresh process would, and single screenings as onboarding
calls them.

The customers are bench_screening.py's synthetic parties (random company and person names, some
planted variations of listed names, each with a billing country), inserted with Core inserts (a
customer, its billing address and its account with the company), then ANALYZE.

    .venv/bin/python bench/bench_screening_db.py                      # 10,000 customers
    .venv/bin/python bench/bench_screening_db.py --customers 2000 --planted 20
"""
from __future__ import annotations

import argparse
import random
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

from sqlalchemy import func, insert, select

sys.path.insert(0, str(Path(__file__).resolve().parent))
import bench_screening as gen  # noqa: E402
from common import analyze, command_line, log, machine, throwaway_db  # noqa: E402

EXTRA_ROW = '99001,"PACIFIC LOGISTICS GMBH",-0- ,"SDGT",-0- ,-0- ,-0- ,-0- ,-0- ,-0- ,-0- ,-0- \n'


def seed(parties: list[gen.Party]) -> tuple[int, object]:
    """The company, a compliance officer, and the customers; returns the company id and the officer."""
    from o2c.core.auth import actor_for_user, create_user
    from o2c.core.db import read_session, transaction
    from o2c.core.models import User
    from o2c.core.setup import create_company
    from o2c.customers.models import Customer, CustomerAccount, CustomerAddress

    def base(s):
        company, _ = create_company(s, "SCREEN", "Screen Supply Inc.", "USD", "US", "America/Chicago", admin=None)
        return company.id, create_user(s, "officer", ["compliance_officer"], [company.id]).id

    company_id, user_id = transaction(base)
    now = datetime.now(timezone.utc)

    def iso(country):  # planted parties carry OFAC's country names ("Russia"): the address holds ISO codes
        from o2c.compliance.sanctions import country_key

        key = country_key(country)
        return key if key and len(key) == 2 and key.isupper() else None

    def customers(s):
        ids = s.scalars(insert(Customer).returning(Customer.id, sort_by_parameter_order=True), [
            {"code": f"C{i:06d}", "legal_name": p.name[:200], "status": "active", "compliance_hold": False,
             "created_at": now} for i, p in enumerate(parties)]).all()
        s.execute(insert(CustomerAddress), [
            {"customer_id": cid, "kind": "billing", "is_default": True, "name": p.name[:200], "country": iso(p.country)}
            for cid, p in zip(ids, parties)])
        s.execute(insert(CustomerAccount), [
            {"company_id": company_id, "customer_id": cid, "currency": "USD", "payment_terms_days": 30,
             "active": True, "created_at": now} for cid in ids])

    transaction(customers)
    with read_session() as s:
        officer = actor_for_user(s, s.get(User, user_id))
    return company_id, officer


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--customers", type=int, default=10_000)
    ap.add_argument("--planted", type=int, default=100)
    ap.add_argument("--single", type=int, default=200, help="single screenings timed (one transaction each)")
    ap.add_argument("--seed", type=int, default=5)
    args = ap.parse_args()
    rng = random.Random(args.seed)

    from o2c.compliance import sanctions, service

    index = sanctions.ScreeningIndex(sanctions.load_sdn(gen.FULL))
    planted = [p for p, _ in gen.planted_parties(index, args.planted, rng)]
    parties = [gen.random_party(rng) for _ in range(args.customers - len(planted))] + planted
    rng.shuffle(parties)
    files = {p.name: p.read_bytes() for p in gen.FULL.glob("*.csv")}
    sdn = files["sdn.csv"].rstrip(b"\x1a")  # the snapshot ends with a DOS end-of-file mark, after its last row
    newer = dict(files, **{"sdn.csv": sdn + (b"" if sdn.endswith(b"\n") else b"\r\n") + EXTRA_ROW.encode()})

    print(f"{machine()}; {args.customers:,} customers ({len(planted)} planted)")
    with throwaway_db("screening") as url:
        t0 = time.perf_counter()
        company_id, officer = seed(parties)
        analyze(url)
        log(f"seeded {args.customers:,} customers in {time.perf_counter() - t0:.1f} s")

        from o2c.compliance.models import ScreeningHit
        from o2c.core.db import read_session, transaction
        from o2c.customers.models import Customer

        t = time.perf_counter()
        service.parse_files(files)
        parse = time.perf_counter() - t
        # The same screening without the database, in the same conditions: what the service adds to it.
        people = sanctions.ScreeningIndex(sanctions.load_sdn(gen.FULL), types=service.PARTY_TYPES)
        t = time.perf_counter()
        for p in parties:
            people.screen(p)
        pure = time.perf_counter() - t

        runs = []
        for label, fs in (("first list", files), ("second list (+1 entry)", newer)):
            t = time.perf_counter()
            load = transaction(lambda s, fs=fs: service.load_view(service.load_list(s, officer, fs)))
            took = time.perf_counter() - t
            runs.append((label, load, took))
            print(f"{label}: {took:.2f} s end to end: {load['entries']:,} entries stored, {load['rescreened']:,} "
                  f"customers re-screened ({load['rescreened'] / took:,.0f}/s overall), "
                  f"{load['hits_opened']} hits opened")
        print(f"  of which parsing the four files: {parse:.2f} s; screening the {len(parties):,} names alone, "
              f"without the database: {pure:.2f} s ({len(parties) / pure:,.0f}/s)")

        service._indexes.clear()
        with read_session() as s:
            t = time.perf_counter()
            rebuilt = service.index_for(s, service.active_load(s))
            rebuild = time.perf_counter() - t
        print(f"index rebuilt from the stored entries (a fresh process): {rebuild:.2f} s, {len(rebuilt):,} names")

        with read_session() as s:
            ids = s.scalars(select(Customer.id).order_by(Customer.id).limit(args.single)).all()
            held = s.scalar(select(func.count()).select_from(Customer).where(Customer.compliance_hold.is_(True)))
            hits = s.scalar(select(func.count()).select_from(ScreeningHit))
        t = time.perf_counter()
        for cid in ids:
            transaction(lambda s, cid=cid: service.screen_customer(s, officer, cid))
        single = (time.perf_counter() - t) / max(1, len(ids))
        print(f"screen_customer, one transaction each: {single * 1000:.1f} ms a customer ({len(ids)} timed)")
        print(f"customers on compliance hold: {held:,}; hits: {hits:,}")
    print("command:", command_line())


if __name__ == "__main__":
    main()
