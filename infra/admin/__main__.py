"""``python -m infra.admin`` is the admin command."""

import sys

from infra.admin.cli import run

sys.exit(run())
