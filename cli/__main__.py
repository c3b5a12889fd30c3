"""`python -m afflux.cli` runs the `afflux` command."""

import sys

from . import main

sys.exit(main())
