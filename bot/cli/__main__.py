"""``python -m bot.cli``: the same as the ``incident-bot`` console script."""

import sys

from bot.cli.main import main

sys.exit(main())
