"""Where the example model repository and SQL scripts are: inside the installed package, or in a checkout.

A wheel carries them as ``pyflink_triton/examples/model_repository/`` and
``pyflink_triton/examples/sql/`` (copied there at build time by ``setup.py``); a source checkout
(and an editable install of it) has them at the top of the repository, ``model_repository/`` and
``sql/``, the paths the tests, the Makefile and the README use.

Only the standard library: the server layer imports neither aiohttp nor pyflink.
"""

from __future__ import annotations

from pathlib import Path

from ..errors import TritonConfigError, TritonLaunchError

__all__ = ["example_script", "example_scripts", "model_repository", "sql_folder"]

_PACKAGE = Path(__file__).resolve().parents[1]
#: the copies a built wheel carries
PACKAGED = _PACKAGE / "examples"
#: the originals of a source checkout (an editable install runs from one)
CHECKOUT = _PACKAGE.parent


def _find(name: str) -> Path | None:
    for root in (PACKAGED, CHECKOUT):
        if (root / name).is_dir():
            return root / name
    return None


def model_repository() -> Path:
    """The example model repository (packaged copy first, then the checkout's ``model_repository/``)."""
    found = _find("model_repository")
    if found is None:
        raise TritonLaunchError(
            f"no model repository given, and neither {PACKAGED / 'model_repository'} (installed package) nor "
            f"{CHECKOUT / 'model_repository'} (source checkout) exists: pass a model repository"
        )
    return found


def sql_folder() -> Path | None:
    """The folder of the example SQL scripts, or None when this installation has none."""
    return _find("sql")


def example_scripts() -> list[Path]:
    """The example SQL scripts, sorted by name."""
    folder = sql_folder()
    return sorted(folder.glob("*.sql")) if folder is not None else []


def example_script(name: str) -> Path:
    """The example script called ``name`` (``movie_reviews`` or ``movie_reviews.sql``)."""
    wanted = name if name.endswith(".sql") else f"{name}.sql"
    for script in example_scripts():
        if script.name == wanted:
            return script
    known = ", ".join(s.stem for s in example_scripts()) or "none in this installation"
    raise TritonConfigError(f"{name!r} is neither a file nor an example script (examples: {known})")
