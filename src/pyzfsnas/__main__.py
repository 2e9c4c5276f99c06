"""``python -m pyzfsnas``: the command line (see :mod:`pyzfsnas.cli`)."""

import sys

from pyzfsnas.cli import main

sys.exit(main())
