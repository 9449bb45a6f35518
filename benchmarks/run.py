"""Entry point of the benchmark suite: ``python benchmarks/run.py [--quick | --tiny] [--memory]``.

Starts one local Triton, measures every contender on the same models and rows, and writes
BENCHMARKS.md, benchmarks/results.json and benchmarks/rows_per_s.png (see benchmarks/runner.py).
"""

from __future__ import annotations

import sys
from pathlib import Path

if __name__ == "__main__":
    # Run as a script, Python put benchmarks/ first on the path; put the repository root there
    # instead, so that the suite is the `benchmarks` package (its modules then cannot shadow
    # top-level modules of the same names, and PyFlink pickles its functions by reference).
    sys.path[0] = str(Path(__file__).resolve().parent.parent)
    from benchmarks.runner import main

    raise SystemExit(main())
