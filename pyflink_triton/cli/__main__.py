"""``python -m pyflink_triton.cli``: the ``pyflink-triton`` command."""

import sys

from . import main

sys.exit(main())
