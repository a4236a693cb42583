"""How the command line shows results (a rich table, or JSON) and which exit code each failure gets."""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from typing import Any

import click
from pydantic import BaseModel
from rich.console import Console
from rich.table import Table

from gensail.errors import APIConnectionError, APIError, GensailError

# Exit codes: what failed, so that scripts can branch without parsing messages.
EXIT_OK = 0
EXIT_API_ERROR = 1  # any other error answer
EXIT_USAGE = 2  # bad command line (click's own code)
EXIT_UNAUTHORIZED = 3  # no key, or the key was refused (401)
EXIT_FORBIDDEN = 4  # the key may not do this (403)
EXIT_NOT_FOUND = 5  # no such job or route (404)
EXIT_REFUSED = 6  # the request was refused as it stands (400, 409, 412, 413, 415)
EXIT_RATE_LIMITED = 7  # still 429 when the retry budget ran out
EXIT_UNAVAILABLE = 8  # 5xx or no connection when the retry budget ran out
EXIT_BATCH_NOT_COMPLETED = 9  # the requeue batch ended failed, or cancelled by someone else
EXIT_INTERRUPTED = 130  # Ctrl-C (the shell's own code for it), whether the batch was then cancelled or not

_EXIT_BY_STATUS = {401: EXIT_UNAUTHORIZED, 403: EXIT_FORBIDDEN, 404: EXIT_NOT_FOUND, 429: EXIT_RATE_LIMITED}


def exit_code(error: GensailError) -> int:
    """The exit code of a failure."""
    if isinstance(error, APIConnectionError):
        return EXIT_UNAVAILABLE
    if not isinstance(error, APIError):
        return EXIT_UNAUTHORIZED  # raised before any request: no API key
    if error.status >= 500:
        return EXIT_UNAVAILABLE
    if error.status in _EXIT_BY_STATUS:
        return _EXIT_BY_STATUS[error.status]
    return EXIT_REFUSED if error.status in {400, 409, 412, 413, 415} else EXIT_API_ERROR


def report_error(error: GensailError, output: str) -> None:
    """Tell what failed on standard error: the problem's fields as JSON, or one readable line."""
    if output == "json" and isinstance(error, APIError):
        problem = {
            "status": error.status,
            "code": error.code,
            "title": error.title,
            "detail": error.detail,
            "instance": error.instance,
            "errors": [issue.model_dump() for issue in error.errors],
        }
        click.echo(json.dumps(problem), err=True)
        return
    if isinstance(error, APIError):
        lines = [f"error: {error.code or error.status}: {error.detail}"]
        lines += [f"  {issue.location}: {issue.message}" for issue in error.errors]
        click.echo("\n".join(lines), err=True)
        return
    click.echo(f"error: {error}", err=True)


def print_json(value: BaseModel | Sequence[BaseModel] | dict[str, Any]) -> None:
    if isinstance(value, BaseModel):
        click.echo(value.model_dump_json(indent=2))
    elif isinstance(value, dict):
        click.echo(json.dumps(value, indent=2))
    else:
        click.echo(json.dumps([item.model_dump(mode="json") for item in value], indent=2))


def print_table(columns: Sequence[str], rows: Iterable[Sequence[Any]], title: str | None = None) -> None:
    table = Table(*columns, title=title)
    for row in rows:
        table.add_row(*("" if cell is None else str(cell) for cell in row))
    # Wide enough that ids and reasons are never folded when the output is piped.
    Console(width=max(Console().width, 160)).print(table)
