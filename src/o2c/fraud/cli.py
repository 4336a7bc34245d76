"""`o2c fraud train`: train the company's fraud model with a progress bar and print its quality on
held-out orders (labelled by fraud reviews, and planted anomalies)."""
from __future__ import annotations

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table
from sqlalchemy import select

from o2c.core.auth import require
from o2c.core.db import read_session, transaction
from o2c.core.errors import Forbidden, NotFound, O2CError
from o2c.core.models import Company
from o2c.core.users import active_actor
from o2c.fraud import service

_STAGES = {"features": "Order features", "trees": "Isolation trees", "evaluating": "Held-out evaluation"}


def _pct(x) -> str:
    return "-" if x is None else f"{x:.3f}"


def train(company_code: str | None, username: str, seed: int, n_estimators: int, contamination: float) -> int:
    """Exit 0 when a model was trained, 2 when it could not be (unknown user/company, no right, too few orders)."""
    out, err = Console(highlight=False, soft_wrap=True), Console(stderr=True, highlight=False, soft_wrap=True)
    with read_session() as s:
        try:
            actor = active_actor(s, username)
        except NotFound as exc:
            err.print(f"[bold red]Error:[/] {exc}")
            return 2
        companies = dict(s.execute(select(Company.code, Company.id)
                                   .where(Company.id.in_(sorted(actor.company_ids)))).all())
    try:
        require(actor, "fraud.train")
    except Forbidden as exc:
        err.print(f"[bold red]Error:[/] {exc.detail}")
        return 2
    if company_code is None and len(companies) != 1:
        err.print(f"[bold red]Error:[/] user {username!r} works for {len(companies)} companies "
                  f"({', '.join(sorted(companies)) or 'none'}): name one with --company")
        return 2
    if company_code is not None and company_code not in companies:
        err.print(f"[bold red]Error:[/] user {username!r} has no company {company_code!r}")
        return 2
    company_id = companies[company_code] if company_code else next(iter(companies.values()))

    with Progress(TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                  console=err) as bar:
        tasks: dict[str, int] = {}

        def progress(stage: str, done: int, total: int) -> None:
            if stage not in tasks:
                tasks[stage] = bar.add_task(_STAGES.get(stage, stage), total=total)
            bar.update(tasks[stage], completed=done, total=total)

        try:
            model = transaction(lambda s: service.model_view(service.train(
                s, actor, company_id, progress, seed=seed, n_estimators=n_estimators, contamination=contamination)))
        except O2CError as exc:
            bar.stop()
            err.print(f"[bold red]Error:[/] {exc.detail}")
            for e in exc.errors:
                if e.message != exc.detail:
                    err.print(f"  {e.field}: {e.message}")
            return 2
    m = model["metrics"]
    out.print(f"fraud model {model['id']} trained on {model['trained_on']:,} orders "
              f"({m['held_out_orders']:,} held out; {m['labels']:,} labelled orders); threshold {m['threshold']}")
    table = Table("held-out cases", "orders", "fraud", "flagged", "precision", "recall", "rules alone P / R")
    for name in ("labelled", "planted"):
        both, rules_only = m[name]["model_and_rules"], m[name]["rules_only"]
        table.add_row(name, f"{both['cases']:,}", f"{both['fraud']:,}", f"{both['flagged']:,}",
                      _pct(both["precision"]), _pct(both["recall"]),
                      f"{_pct(rules_only['precision'])} / {_pct(rules_only['recall'])}")
    out.print(table)
    out.print(f"labelled: {m['labelled']['source']}")
    out.print(f"planted: {m['planted']['source']}")
    return 0
