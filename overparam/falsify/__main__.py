"""``python -m overparam.falsify MODULE:MARGIN [...]``: the ``overparam falsify`` command standing alone."""

import sys

from overparam.falsify.command import main

sys.exit(main())
