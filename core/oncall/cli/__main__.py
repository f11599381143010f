"""``python -m oncall.cli``: the ``oncall`` command."""

import sys

from . import main

sys.exit(main())
