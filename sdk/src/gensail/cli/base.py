"""What every API command shares: a client built from the common options, and failures turned into exit codes."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import click

from gensail._core import API_KEY_VARIABLE, BASE_URL_VARIABLE
from gensail._sync import Gensail
from gensail.cli.output import exit_code, report_error
from gensail.errors import GensailError

Command = Callable[..., None]


def api_command(group: click.Group | None, name: str) -> Callable[[Command], click.Command]:
    """A command (of ``group``, if any) that gets a client and the output format; failures become exit codes.

    ``obj`` of the click context, when given (tests), holds more arguments for :class:`Gensail`.
    """

    def decorate(command: Command) -> click.Command:
        @click.pass_context
        def run(
            ctx: click.Context, /, output: str, api_key: str | None, base_url: str | None, **arguments: Any
        ) -> None:
            options: dict[str, Any] = ctx.obj or {}
            try:
                with Gensail(api_key=api_key, base_url=base_url, **options) as client:
                    command(client, output, **arguments)
            except GensailError as error:
                report_error(error, output)
                ctx.exit(exit_code(error))

        # The command's own options and arguments, then the ones every command takes.
        params: list[click.Parameter] = [
            click.Option(["--output"], type=click.Choice(["table", "json"]), default="table", show_default=True),
            click.Option(["--api-key"], envvar=API_KEY_VARIABLE, help=f"API key (default: ${API_KEY_VARIABLE})."),
            click.Option(["--base-url"], envvar=BASE_URL_VARIABLE, help=f"API URL (default: ${BASE_URL_VARIABLE})."),
        ]
        own: list[click.Parameter] = list(reversed(getattr(command, "__click_params__", [])))
        created = click.Command(name, callback=run, params=[*own, *params], help=command.__doc__)
        if group is not None:
            group.add_command(created)
        return created

    return decorate
