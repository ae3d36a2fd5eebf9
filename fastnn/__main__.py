"""``python -m fastnn``: the command line (see `fastnn.cli`)."""
import sys

from fastnn.cli import main

sys.exit(main())
