"""`o2c sanctions load DIR`: load a sanctions list from a folder of OFAC SDN files and screen every
customer again. Exit code 0 when loaded; 1 when the files are refused (a broken row is named with its
file and line, and nothing is stored); 2 when it could not run (no such folder or user)."""
from __future__ import annotations

from pathlib import Path

import typer

from o2c.compliance import service
from o2c.core.db import read_session, transaction
from o2c.core.errors import NotFound, O2CError
from o2c.core.users import active_actor


def load(directory: str, username: str) -> int:
    folder = Path(directory)
    if not folder.is_dir():
        typer.echo(f"Error: {directory} is not a folder (it should hold sdn.csv, alt.csv, add.csv, sdn_comments.csv)",
                   err=True)
        return 2
    files = {name: (folder / name).read_bytes() for name in service.FILES if (folder / name).is_file()}
    with read_session() as s:
        try:
            actor = active_actor(s, username)
        except NotFound as exc:
            typer.echo(f"Error: {exc}", err=True)
            return 2
    typer.echo(f"loading {', '.join(sorted(files)) or 'nothing'} from {folder} and screening every customer ...")
    try:
        view = transaction(lambda s: service.load_view(service.load_list(s, actor, files)))
    except O2CError as exc:
        typer.echo(f"Error: the list is not loaded: {exc.detail}", err=True)
        for e in exc.errors[:20]:
            if e.message not in exc.detail:
                typer.echo(f"  {e.field}: {e.message}", err=True)
        return 1
    typer.echo(f"list {view['id']} ({view['source']}) loaded: {view['entries']} entries, {view['aliases']} aliases, "
               f"{view['addresses']} addresses")
    typer.echo(f"{view['rescreened']} customers screened again, {view['hits_opened']} hit(s) opened; "
               "open hits wait in GET /api/v1/screening/hits")
    return 0
