"""The `o2c` command: serve, worker, migrate, bootstrap, demo, import."""
from __future__ import annotations

import logging
import os
import signal
import threading
from datetime import datetime

import typer

from o2c.core.settings import get_settings

app = typer.Typer(help="o2c: order-to-cash.", no_args_is_help=True, add_completion=False,
                  pretty_exceptions_enable=False)
import_app = typer.Typer(help="Import files.", no_args_is_help=True)
app.add_typer(import_app, name="import")


def _url(database_url: str | None) -> str:
    if database_url:
        os.environ["O2C_DATABASE_URL"] = database_url
        get_settings.cache_clear()
    return get_settings().database_url


DbOpt = typer.Option(None, "--database-url", help="Overrides O2C_DATABASE_URL.")


@app.command()
def migrate(database_url: str | None = DbOpt) -> None:
    """Create or upgrade the database schema."""
    from o2c.core.migrate import upgrade

    url = _url(database_url)
    upgrade(url)
    typer.echo(f"schema is up to date on {_safe(url)}")


def _safe(url: str) -> str:
    from sqlalchemy.engine import make_url

    return make_url(url).render_as_string(hide_password=True)


@app.command()
def serve(
    host: str = typer.Option("127.0.0.1", help="Address to listen on."),
    port: int = typer.Option(8000, help="Port to listen on."),
    workers: int = typer.Option(1, help="HTTP worker processes."),
    database_url: str | None = DbOpt,
) -> None:
    """Run the API (and, on the embedded default, the event dispatcher in the same process)."""
    from o2c.core.migrate import upgrade
    from o2c.web import server

    url = _url(database_url)
    upgrade(url)
    typer.echo(f"o2c on http://{host}:{port}/  (API docs: http://{host}:{port}/api/v1/docs; database {_safe(url)})")
    server.run(host, port, workers)


@app.command()
def worker(database_url: str | None = DbOpt, poll: float = typer.Option(1.0, help="Seconds between polls.")) -> None:
    """Deliver outbox events to their subscribers until stopped; several may run on PostgreSQL."""
    from o2c.core.events import Dispatcher

    _url(database_url)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    d = Dispatcher(poll_seconds=poll)
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    d.start()
    typer.echo("worker running; Ctrl-C stops it")
    stop.wait()
    d.stop()
    d.join(timeout=30)


@app.command()
def bootstrap(
    company: str = typer.Option(..., help="Company code, e.g. ACME-US."),
    name: str = typer.Option(..., help="Company name."),
    currency: str = typer.Option(..., help="ISO 4217 currency."),
    country: str = typer.Option(..., help="ISO 3166 country."),
    timezone: str = typer.Option("UTC", help="IANA time zone of the company's business dates."),
    admin: str = typer.Option("admin", help="Username of the first administrator."),
    database_url: str | None = DbOpt,
) -> None:
    """Create a company and its first administrator; prints the administrator's API key once."""
    from o2c.core.db import transaction
    from o2c.core.migrate import upgrade
    from o2c.core.setup import create_company

    url = _url(database_url)
    upgrade(url)
    key = transaction(lambda s: create_company(s, company, name, currency, country, timezone, admin)[1])
    typer.echo(f"company {company} created; administrator {admin!r} API key (shown once): {key}")


@import_app.command("orders")
def import_orders(
    file: str = typer.Argument(..., help="CSV file of order lines (docs/csv-import.md gives the columns)."),
    company: str | None = typer.Option(None, help="Company code (needed when there are several)."),
    user: str = typer.Option("admin", help="The user the orders are entered as."),
    database_url: str | None = DbOpt,
) -> None:
    """Import orders from CSV: good orders are captured, each bad row is reported with its number."""
    from o2c.integrations.csv_orders import import_cli

    _url(database_url)
    raise typer.Exit(import_cli(file, company, user))


@import_app.command("statement")
def import_statement(
    file: str = typer.Argument(..., help="A bank statement: camt.053 XML, MT940 or CSV (docs/bank-statements.md)."),
    company: str | None = typer.Option(None, help="Company code (needed when the user works for several)."),
    user: str = typer.Option("admin", help="The user the import is recorded as (needs reconciliation.write)."),
    format: str | None = typer.Option(None, "--format", help="camt.053, mt940 or csv; told from the content if left out."),
    database_url: str | None = DbOpt,
) -> None:
    """Import a bank statement and reconcile it: prints the lines per status and the auto-match rate.
    A file that cannot be imported (malformed, cut off, not adding up, imported before) exits 1 with the
    reason, and nothing is stored."""
    from pathlib import Path

    from sqlalchemy import select

    from o2c.core.auth import actor_for_user
    from o2c.core.db import read_session, transaction
    from o2c.core.errors import O2CError
    from o2c.core.models import Company, User
    from o2c.receivables import service as reconciliation

    _url(database_url)
    try:
        data = Path(file).read_bytes()
    except OSError as exc:
        typer.echo(f"Error: cannot read {file}: {exc.strerror or exc}", err=True)
        raise typer.Exit(2) from None
    with read_session() as s:
        u = s.scalar(select(User).where(User.username == user, User.active.is_(True)))
        actor = actor_for_user(s, u) if u is not None else None
        codes = dict(s.execute(select(Company.code, Company.id).where(Company.id.in_(sorted(actor.company_ids)))).all()
                     ) if actor else {}
    if actor is None:
        typer.echo(f"Error: there is no active user named {user!r} (give one with --user)", err=True)
        raise typer.Exit(2)
    if company is None and len(codes) != 1:
        typer.echo(f"Error: user {user!r} works for {len(codes)} companies ({', '.join(sorted(codes)) or 'none'}): "
                   "name one with --company", err=True)
        raise typer.Exit(2)
    if company is not None and company not in codes:
        typer.echo(f"Error: user {user!r} has no company {company!r}", err=True)
        raise typer.Exit(2)
    company_id = codes[company] if company else next(iter(codes.values()))
    name = Path(file).name

    def work(s):
        return reconciliation.import_statement(s, actor, company_id, data, name, format).statements

    try:
        statements = transaction(work)
        reconciliation.book_pending(actor, company_id, [st.id for st in statements])  # the auto lines left, in batches
        with read_session() as s:
            views = reconciliation.statement_views(s, statements)
    except O2CError as exc:
        earlier = [e["id"] for e in exc.extra.get("earlier", [])]
        if earlier:  # imported before, maybe by a run that stopped half way: book what it left
            done = reconciliation.book_pending(actor, company_id, earlier)
            if done.booked or done.held:
                typer.echo(f"{done.booked} auto lines of the earlier import booked now, {done.held} held back "
                           "for a person")
        typer.echo(f"Error: {name} is not imported: {exc.detail}", err=True)
        for e in exc.errors[:20]:
            if e.message not in exc.detail:
                typer.echo(f"  {e.field}: {e.message}", err=True)
        raise typer.Exit(1) from None
    for v in views:
        counts = ", ".join(f"{n} {status}" for status, n in v["counts"].items() if n)
        incoming = v["line_count"] - v["counts"]["not_incoming"]
        typer.echo(f"bank statement {v['id']}: {v['format']} {v['statement_ref'] or ''} account {v['account'] or '-'}, "
                   f"{v['line_count']} lines ({counts or 'none'}); auto-match rate {v['auto_rate'] * 100:.1f}% "
                   f"of {incoming} incoming")
    typer.echo(f"Imported {len(views)} statement{'s' if len(views) != 1 else ''} from {name}; "
               "suggested and unmatched lines wait in GET /api/v1/reconciliation")


@import_app.command("tracking")
def import_tracking(
    file: str = typer.Argument(..., help="A carrier's tracking file: CSV with tracking_number, kind, occurred_at, "
                                         "location, description, event_id."),
    company: str = typer.Option(..., help="Company code."),
    user: str = typer.Option("admin", help="The user the events are recorded as (needs tracking.write)."),
    database_url: str | None = DbOpt,
) -> None:
    """Import carrier tracking events: all rows or none (a bad row is named with its line); repeats are absorbed."""
    from pathlib import Path

    from sqlalchemy import select

    from o2c.core.auth import actor_for_user
    from o2c.core.db import read_session, transaction
    from o2c.core.errors import O2CError
    from o2c.core.models import Company, User
    from o2c.shipping import service as shipping

    _url(database_url)
    try:
        text = Path(file).read_text(encoding="utf-8-sig")
        with read_session() as s:
            cid = s.scalar(select(Company.id).where(Company.code == company))
            u = s.scalar(select(User).where(User.username == user))
            if cid is None or u is None:
                typer.echo(f"Error: no company {company!r} or no user {user!r}", err=True)
                raise typer.Exit(2)
            actor = actor_for_user(s, u)
        result = transaction(lambda s: shipping.track_many(s, actor, cid, shipping.parse_tracking_csv(text), "csv"))
    except OSError as exc:
        typer.echo(f"Error: cannot read {file}: {exc.strerror or exc}", err=True)
        raise typer.Exit(2) from None
    except O2CError as exc:
        typer.echo(f"Error: {exc.detail}", err=True)
        for e in getattr(exc, "errors", [])[:50]:
            typer.echo(f"  {e.field}: {e.message}", err=True)
        raise typer.Exit(1) from None
    typer.echo(f"{result['created']} tracking events recorded, {result['duplicates']} repeats ignored")


@app.command()
def demo(
    orders: int = typer.Option(300, min=0, help="How many orders to push through."),
    seed: int = typer.Option(42, help="Seed of the order mix: the same seed gives the same demo."),
    more: bool = typer.Option(False, "--more", help="The demo company exists: push another batch of orders."),
    database_url: str | None = DbOpt,
) -> None:
    """Create a demo company and push orders through every step built so far, with progress."""
    from o2c.demo import run_demo

    _url(database_url)
    report = run_demo(orders, seed=seed, more=more)
    if report.failures:
        raise typer.Exit(1)


@app.command()
def remind(
    as_of: datetime | None = typer.Option(None, "--as-of", formats=["%Y-%m-%d"],
                                          help="Business date to run for (default: today in the company's time zone)."),
    dry_run: bool = typer.Option(False, "--dry-run", help="Print what would be sent; send nothing."),
    company: str | None = typer.Option(None, help="Company code (needed when the user has several)."),
    user: str = typer.Option("admin", help="The user the reminders are sent as (needs dunning.write)."),
    database_url: str | None = DbOpt,
) -> None:
    """Send the payment reminders due today (run it daily, e.g. from cron); running twice sends nothing new."""
    from o2c.dunning.cli import remind as run

    _url(database_url)
    raise typer.Exit(run(as_of.date() if as_of else None, dry_run, company, user))


@app.command("card-retry")
def card_retry(database_url: str | None = DbOpt) -> None:
    """Settle card authorisations the gateway left unanswered (sent again under their own key, so never
    charged twice) and look up those waiting for 3-D Secure; run it every few minutes, e.g. from cron."""
    from o2c.payments.cards import retry_pending

    _url(database_url)
    changed = retry_pending()
    typer.echo(", ".join(f"{n} {status}" for status, n in sorted(changed.items())) or "nothing to settle")


user_app = typer.Typer(help="Users and their API keys.", no_args_is_help=True)
app.add_typer(user_app, name="user")


@user_app.command("add")
def user_add(
    username: str = typer.Argument(...),
    role: list[str] = typer.Option(..., "--role", help="A role (repeat for several): " + ", ".join(sorted(__import__("o2c.core.auth", fromlist=["ROLES"]).ROLES))),
    company: list[str] = typer.Option(..., "--company", help="A company code the user works for (repeatable)."),
    customer: str | None = typer.Option(None, help="For a portal user: the customer code they belong to."),
    database_url: str | None = DbOpt,
) -> None:
    """Create a user and print their first API key (shown once)."""
    from o2c.core.db import transaction
    from o2c.core.users import add_user

    _url(database_url)
    key = transaction(lambda s: add_user(s, username, role, company, customer))
    typer.echo(f"user {username!r} created; API key (shown once): {key}")
    _sod_warnings(role)


def _sod_warnings(roles: list[str]) -> None:
    from o2c.core.db import read_session
    from o2c.core.users import role_warnings

    with read_session() as s:
        for w in role_warnings(s, roles):
            typer.echo(f"warning: these roles conflict (segregation of duties): {w}")


@user_app.command("roles")
def user_roles(
    username: str = typer.Argument(...),
    role: list[str] = typer.Option(..., "--role", help="A role (repeat for several); replaces the user's roles."),
    database_url: str | None = DbOpt,
) -> None:
    """Set a user's roles. Conflicting roles are allowed and printed as warnings (docs/segregation-of-duties.md)."""
    from o2c.core.auth import SYSTEM
    from o2c.core.db import transaction
    from o2c.core.users import assign_roles

    _url(database_url)
    warnings = transaction(lambda s: assign_roles(s, SYSTEM, username, role))
    typer.echo(f"user {username!r} now has the roles {', '.join(sorted(set(role)))}")
    for w in warnings:
        typer.echo(f"warning: these roles conflict (segregation of duties): {w}")


@user_app.command("password")
def user_password(
    username: str = typer.Argument(...),
    password: str = typer.Option(..., prompt=True, hide_input=True, confirmation_prompt=True,
                                 help="Asked for when not given (hidden)."),
    database_url: str | None = DbOpt,
) -> None:
    """Set the password a user logs in to the web pages with (at least 10 characters)."""
    from o2c.core.db import transaction
    from o2c.core.users import set_password

    _url(database_url)
    transaction(lambda s: set_password(s, username, password))
    typer.echo(f"password set for {username!r}")


@user_app.command("key")
def user_key(username: str = typer.Argument(...), database_url: str | None = DbOpt) -> None:
    """Issue another API key for a user (shown once)."""
    from o2c.core.db import transaction
    from o2c.core.users import new_key

    _url(database_url)
    typer.echo(f"API key for {username!r} (shown once): {transaction(lambda s: new_key(s, username))}")


sanctions_app = typer.Typer(help="Sanctions lists screened against.", no_args_is_help=True)
app.add_typer(sanctions_app, name="sanctions")


@sanctions_app.command("load")
def sanctions_load(
    directory: str = typer.Argument(..., help="Folder with the OFAC SDN files: sdn.csv (required), alt.csv, "
                                              "add.csv, sdn_comments.csv."),
    user: str = typer.Option("admin", help="The user the load is recorded as (needs screening.write)."),
    database_url: str | None = DbOpt,
) -> None:
    """Load a sanctions list and screen every customer against it: prints the counts and the hits opened.
    A broken row is named with its file and line (exit 1), and nothing is stored."""
    from o2c.compliance.cli import load

    _url(database_url)
    raise typer.Exit(load(directory, user))


fraud_app = typer.Typer(help="Fraud screening.", no_args_is_help=True)
app.add_typer(fraud_app, name="fraud")


@fraud_app.command("train")
def fraud_train(
    company: str | None = typer.Option(None, help="Company code (needed when the user works for several)."),
    user: str = typer.Option("admin", help="The user the training is recorded as (needs fraud.train)."),
    seed: int = typer.Option(0, help="Random seed: the same history and seed give the same model."),
    trees: int = typer.Option(200, help="Isolation trees."),
    contamination: float = typer.Option(0.01, help="Share of ordinary orders the model alone may send to review."),
    database_url: str | None = DbOpt,
) -> None:
    """Train the fraud model on the company's order history (with progress) and print precision and
    recall on held-out orders: those labelled by fraud reviews, and planted anomalies."""
    from o2c.fraud.cli import train

    _url(database_url)
    raise typer.Exit(train(company, user, seed, trees, contamination))


audit_app = typer.Typer(help="The audit log's hash chain.", no_args_is_help=True)
app.add_typer(audit_app, name="audit")


@audit_app.command("verify")
def audit_verify(database_url: str | None = DbOpt) -> None:
    """Walk the audit log's hash chain; print its head hash (keep it elsewhere to compare later) and every
    record that was changed, deleted or inserted around the chain. Exits 1 when the chain is broken."""
    from o2c.core import audit
    from o2c.core.db import read_session

    _url(database_url)
    with read_session() as s:
        report = audit.verify(s)
    for p in report.problems:
        typer.echo(f"{p.kind}: {p.message}")
    state = "ok" if report.ok else f"BROKEN ({len(report.problems)} problem(s))"
    typer.echo(f"{state}: {report.records} records, {report.redacted} redacted; head seq {report.head_seq} "
               f"hash {report.head_hash}")
    raise typer.Exit(0 if report.ok else 1)


@audit_app.command("seal")
def audit_seal(database_url: str | None = DbOpt) -> None:
    """Seal audit records left unsealed (written while sealing was off). Run verify first: a record an
    intruder slipped in would be sealed too."""
    from o2c.core import audit
    from o2c.core.db import transaction

    _url(database_url)
    typer.echo(f"sealed {transaction(audit.seal)} record(s)")


def main() -> None:
    """Entry point: errors the product raises on purpose are printed as clear lines, not a trace."""
    from o2c.core.errors import O2CError
    from o2c.core.runtime import tune_gc

    tune_gc()
    try:
        app()
    except O2CError as exc:
        typer.echo(f"error: {exc.detail}", err=True)
        for e in exc.errors:
            if e.message != exc.detail:
                typer.echo(f"  {e.field}: {e.message}", err=True)
        raise SystemExit(2) from None


if __name__ == "__main__":
    main()
