"""What the admin command's groups share: its usage error and its table output."""

from __future__ import annotations

from collections.abc import Sequence

from shared.errors import DomainError


class UsageError(DomainError):
    """Options that argparse accepts one by one but not together."""

    code = "usage"


def print_table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> None:
    widths = [max(len(str(cell)) for cell in column) for column in zip(header, *rows, strict=False)]
    for row in (header, *rows):
        print("  ".join(str(cell).ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip())
