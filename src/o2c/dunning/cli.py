"""`o2c remind`: the reminder run from the command line, for a daily cron job. Exit code 0 when the run
went through (whether or not anything was due), 2 when it could not run (unknown user or company, no
permission, a bad date); what was sent, or would be, is printed one letter a line."""
from __future__ import annotations

from datetime import date

import typer
from sqlalchemy import select

from o2c.core.db import read_session, transaction
from o2c.core.errors import NotFound, O2CError
from o2c.core.models import Company
from o2c.core.users import active_actor
from o2c.customers.models import Customer
from o2c.dunning import service


def _company(session, actor, username: str, code: str | None) -> int:
    companies = dict(session.execute(select(Company.code, Company.id)
                                     .where(Company.id.in_(sorted(actor.company_ids)))).all())
    if code is None:
        if len(companies) != 1:
            raise ValueError(f"user {username!r} works for several companies "
                             f"({', '.join(sorted(companies)) or 'none'}): name one with --company")
        return next(iter(companies.values()))
    if code not in companies:
        raise ValueError(f"no company {code!r} for user {username!r}")
    return companies[code]


def remind(as_of: date | None, dry_run: bool, company: str | None, username: str) -> int:
    with read_session() as s:
        try:
            actor = active_actor(s, username)
        except NotFound as exc:
            typer.echo(f"Error: {exc}", err=True)
            return 2
        try:
            company_id = _company(s, actor, username, company)
        except ValueError as exc:
            typer.echo(f"Error: {exc}", err=True)
            return 2
    try:
        result = transaction(lambda s: service.run(s, actor, company_id, as_of, dry_run))
    except O2CError as exc:
        typer.echo(f"Error: {exc.detail}", err=True)
        return 2
    letters = result["reminders"]
    with read_session() as s:
        codes = dict(s.execute(select(Customer.id, Customer.code)
                               .where(Customer.id.in_({r["customer_id"] for r in letters}))).all())
    for r in letters:
        typer.echo(f"{r['number'] or '(dry run)':<12} {codes[r['customer_id']]:<16} {r['level']:<10} "
                   f"{r['currency']} {r['total']:>12}  {len(r['items'])} invoice(s): "
                   + ", ".join(it["invoice_number"] for it in r["items"]))
    verb = "would be sent (dry run)" if dry_run else "sent"
    typer.echo(f"{len(letters)} reminder(s) {verb} for {result['as_of'].isoformat()}")
    return 0
