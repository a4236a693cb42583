"""``python -m cli`` is the admin command."""

import sys

from cli.admin import run

sys.exit(run())
