"""The benchmark suite: `make bench`, or `python benchmarks/run.py [--quick | --tiny]` (see runner)."""
