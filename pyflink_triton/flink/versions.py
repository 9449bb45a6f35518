"""Which PyFlink this is, what it has, and which of our patches were written for it.

One wheel serves apache-flink 1.20 (LTS) to 2.3. What differs between them is decided here and
nowhere else: the SQL layer and the UDFs ask :func:`flink_features` (what this Flink can do)
and :func:`patch_applies` (whether a patch of PyFlink's code was written and tested for this
version). ``make test-matrix`` proves each entry on each supported minor.

Importing this module imports ``pyflink.version`` only (no JVM, no Beam).
"""

from __future__ import annotations

import functools
import re
import warnings
from dataclasses import dataclass

__all__ = [
    "PATCHED_MINORS",
    "SUPPORTED_MINORS",
    "FlinkFeatures",
    "flink_features",
    "patch_applies",
    "pyflink_version",
    "requires",
]

#: The apache-flink minors this package is tested on (``make test-matrix``), oldest first.
SUPPORTED_MINORS = ("1.20", "2.0", "2.1", "2.2", "2.3")

#: Each patch of PyFlink's behaviour, and the minors whose code it was written against. A
#: version not listed runs unpatched; a minor newer than :data:`SUPPORTED_MINORS` also warns.
PATCHED_MINORS: dict[str, tuple[str, ...]] = {
    # flink/patch.py: FLINK-39532 row copy, release on the loop, one wake-up per burst. The
    # operation exists in 2.3 only.
    "async-operation": ("2.3",),
    # flink/arrow_input.py: arrow_to_pandas and both coders are the same code from 1.20.5 on.
    "arrow-input": SUPPORTED_MINORS,
    # sql/planner_thread.py: Calcite's THREAD_PROVIDERS and the planner's cluster, same in all.
    "planner-thread": SUPPORTED_MINORS,
}

# (feature, the first minor that has it, what it is called in messages)
_FIRST = {
    "async_scalar": ("2.3", "Python's AsyncScalarFunction"),
    "model_ddl": ("2.1", "Flink's executable CREATE MODEL and ML_PREDICT"),
    "batch_ml_predict": ("2.3", "ML_PREDICT in batch mode"),
}


def pyflink_version() -> str:
    """The installed PyFlink's version, e.g. ``'1.20.5'`` (``'unknown'`` without PyFlink)."""
    try:
        from pyflink.version import __version__
    except ImportError:  # pragma: no cover - PyFlink is a dependency
        return "unknown"
    return str(__version__)


def _minor_tuple(version: str) -> tuple[int, int]:
    m = re.match(r"(\d+)\.(\d+)", version)
    return (int(m.group(1)), int(m.group(2))) if m else (0, 0)


def _minor(version: str) -> str:
    major, minor = _minor_tuple(version)
    return f"{major}.{minor}"


@dataclass(frozen=True)
class FlinkFeatures:
    """What the installed PyFlink can do, for the parts this package touches."""

    version: str  #: e.g. ``'2.3.0'``
    minor: str  #: e.g. ``'2.3'``
    async_scalar: bool  #: Python ``AsyncScalarFunction`` (2.3): the ``async`` mode
    model_ddl: bool  #: executable ``CREATE MODEL`` and ``ML_PREDICT`` (2.1); else our own model catalog
    batch_ml_predict: bool  #: Flink plans ``ML_PREDICT`` in batch mode too (2.3)

    @property
    def supported(self) -> bool:
        """Whether this minor is one the package is tested on."""
        return self.minor in SUPPORTED_MINORS


@functools.lru_cache(maxsize=1)
def flink_features() -> FlinkFeatures:
    """The features of the installed PyFlink (detected where a Python name tells, else by version)."""
    version = pyflink_version()
    at_least = {name: _minor_tuple(version) >= _minor_tuple(first) for name, (first, _) in _FIRST.items()}
    try:
        import pyflink.table.udf as udf

        at_least["async_scalar"] = hasattr(udf, "AsyncScalarFunction")
    except ImportError:  # pragma: no cover
        at_least["async_scalar"] = False
    return FlinkFeatures(version=version, minor=_minor(version), **at_least)


def requires(feature: str, what: str) -> str:
    """One sentence saying that ``what`` needs ``feature``, which this PyFlink lacks."""
    first, name = _FIRST[feature]
    return f"{what} needs PyFlink {first} or later ({name} came in {first}); this is PyFlink {pyflink_version()}"


_warned: set[str] = set()


def patch_applies(patch: str) -> bool:
    """Whether ``patch`` (a key of :data:`PATCHED_MINORS`) was written for the installed PyFlink.

    A PyFlink newer than every supported minor gets no patch, and one warning naming what is
    left unpatched.
    """
    minor = _minor(pyflink_version())
    if minor in PATCHED_MINORS[patch]:
        return True
    newest = _minor_tuple(SUPPORTED_MINORS[-1])
    if _minor_tuple(minor) > newest and patch not in _warned:
        _warned.add(patch)
        warnings.warn(
            f"PyFlink {pyflink_version()} is newer than pyflink-triton was tested with "
            f"({SUPPORTED_MINORS[0]} to {SUPPORTED_MINORS[-1]}): its patch {patch!r} of "
            "PyFlink's code is not applied",
            RuntimeWarning,
            stacklevel=2,
        )
    return False
