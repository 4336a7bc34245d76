"""The `o2c` command: serve, worker, migrate, bootstrap, demo, import."""
from __future__ import annotations

import logging
import os
import signal
import threading

import typer

from o2c.core.settings import get_settings

app = typer.Typer(help="o2c: order-to-cash.", no_args_is_help=True, add_completion=False)
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
    import uvicorn

    from o2c.core.migrate import upgrade

    url = _url(database_url)
    upgrade(url)
    typer.echo(f"o2c on http://{host}:{port}/  (API docs: http://{host}:{port}/api/v1/docs; database {_safe(url)})")
    uvicorn.run("o2c.web.app:create_app", factory=True, host=host, port=port, workers=workers,
                log_level="warning", access_log=False)


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


@app.command()
def demo(
    orders: int = typer.Option(300, help="How many orders to push through."),
    database_url: str | None = DbOpt,
) -> None:
    """Create a demo company and push orders through every step built so far, with progress."""
    from o2c.demo import run_demo

    _url(database_url)
    run_demo(orders)


if __name__ == "__main__":
    app()
