"""``python -m kbsc.cli``: the ``kbsc`` command."""

import sys

from kbsc.cli.main import main

sys.exit(main())
