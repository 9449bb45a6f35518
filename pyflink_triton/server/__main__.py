"""``python -m pyflink_triton.server``: serve a model repository with a local Triton."""

import sys

from .cli import main

sys.exit(main())
