"""Copies the example models and SQL scripts into the package when a wheel is built.

They live at the top of the repository (``model_repository/``, ``sql/``), where the tests, the
Makefile, the README, the benchmarks and docker-compose.yml use them; a wheel carries copies as
``pyflink_triton/examples/...`` so that ``pyflink-triton serve`` and ``run`` find them after
``pip install``. A copy at build time, rather than moving the files into the package and leaving
symlinks, keeps one real copy in git, needs no symlinks (which Docker's COPY and some checkouts
do not follow), and works the same from the tree and from the sdist (MANIFEST.in puts both
folders in it). Everything else is in pyproject.toml.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

ROOT = Path(__file__).resolve().parent
EXAMPLES = ("model_repository", "sql")


class BuildPyWithExamples(build_py):
    """``build_py`` plus the example folders, copied to ``pyflink_triton/examples/``."""

    def run(self) -> None:
        super().run()
        # An editable install runs from the checkout, which has the folders already.
        if getattr(self, "editable_mode", False):
            return
        target = Path(self.build_lib) / "pyflink_triton" / "examples"
        for name in EXAMPLES:
            shutil.copytree(
                ROOT / name, target / name, dirs_exist_ok=True, ignore=shutil.ignore_patterns("__pycache__", "*.pyc")
            )


setup(cmdclass={"build_py": BuildPyWithExamples})
