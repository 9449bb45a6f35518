"""The package's shape: imports go one way, bottom to top; aiohttp and PyFlink stay in their
layers; modules and functions stay small. An AST walk, so imports inside functions count too."""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "pyflink_triton"

#: Layers from the bottom up. A module may import its own layer and layers of a lower rank;
#: layers of equal rank (engine, server) may not import each other.
LAYERS = {
    "errors": 0,
    "config": 1,
    "protocol": 2,
    "client": 3,
    "engine": 4,
    "server": 4,
    "flink": 5,
    "sql": 6,
    "cli": 7,
    "job": 8,
}
ONLY_IMPORTED_BY = {
    "aiohttp": ("client/transport.py",),
    "pyflink": ("flink/", "sql/"),
    "rich": ("cli/progress.py",),
}
MAX_MODULE_LINES = 500
MAX_FUNCTION_LINES = 80


def modules() -> list[Path]:
    return sorted(PACKAGE.rglob("*.py"))


def layer_of(relative: str) -> str | None:
    """``config/options.py`` -> ``config``; ``cli.py`` -> ``cli``; the root ``__init__`` -> None."""
    first = relative.split("/")[0]
    name = first[:-3] if first.endswith(".py") else first
    return None if name == "__init__" else name


def imported_names(path: Path, source: str | None = None) -> Iterator[tuple[int, str]]:
    """Every module an import statement names, as an absolute dotted name, with its line."""
    tree = ast.parse(source if source is not None else path.read_text(encoding="utf-8"))
    relative = path.relative_to(PACKAGE).with_suffix("")
    package = ["pyflink_triton", *relative.parts[:-1]]
    if relative.name == "__init__":
        package = ["pyflink_triton", *relative.parts[:-1]]
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield node.lineno, alias.name
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package[: len(package) - node.level + 1]
                stem = ".".join(base + ([node.module] if node.module else []))
            else:
                stem = node.module or ""
            yield node.lineno, stem
            for alias in node.names:  # `from . import server` names a module too
                yield node.lineno, f"{stem}.{alias.name}"


def violations(path: Path, source: str | None = None) -> list[str]:
    """What ``path`` imports against the layering rules."""
    relative = path.relative_to(PACKAGE).as_posix()
    own = layer_of(relative)
    found = []
    for line, name in imported_names(path, source):
        parts = name.split(".")
        for library, allowed in ONLY_IMPORTED_BY.items():
            if parts[0] == library and not relative.startswith(allowed):
                found.append(f"{relative}:{line} imports {library} (only {', '.join(allowed)} may)")
        if parts[0] != "pyflink_triton" or len(parts) < 2 or own is None:
            continue
        target = parts[1]
        if target not in LAYERS or target == own:
            continue
        if LAYERS[target] >= LAYERS[own]:
            found.append(f"{relative}:{line} imports {name} (layer {target} is not below {own})")
    return found


def test_every_module_belongs_to_a_layer() -> None:
    unknown = {layer_of(p.relative_to(PACKAGE).as_posix()) for p in modules()} - set(LAYERS) - {None}
    assert not unknown, f"modules outside the known layers: {sorted(unknown)}"


def test_imports_go_one_way_and_libraries_stay_in_their_layers() -> None:
    found = [v for path in modules() for v in violations(path)]
    assert not found, "\n".join(found)


@pytest.mark.parametrize(
    ("module", "source", "expected"),
    [
        ("config/options.py", "from ..flink import triton_udf\n", "layer flink is not below config"),
        ("engine/engine.py", "def f():\n    from ..sql import TritonSql\n", "layer sql is not below engine"),
        ("engine/engine.py", "from pyflink_triton.server import TritonServer\n", "layer server is not below engine"),
        ("client/client.py", "import aiohttp\n", "imports aiohttp"),
        ("engine/engine.py", "from pyflink.table import DataTypes\n", "imports pyflink"),
        ("config/__init__.py", "from .. import cli\n", "layer cli is not below config"),
    ],
)
def test_the_check_catches_a_lower_layer_importing_a_higher_one(module: str, source: str, expected: str) -> None:
    found = violations(PACKAGE / module, source)
    assert any(expected in v for v in found), found


def test_allowed_imports_pass_the_check() -> None:
    source = "from ..errors import TritonError\nfrom ..config import TritonOptions\nfrom .binding import Column\n"
    assert violations(PACKAGE / "engine/engine.py", source) == []


def test_modules_are_small() -> None:
    long = {
        p.relative_to(PACKAGE).as_posix(): n
        for p in modules()
        if (n := len(p.read_text(encoding="utf-8").splitlines())) > MAX_MODULE_LINES
    }
    assert not long, f"modules over {MAX_MODULE_LINES} lines: {long}"


def test_functions_are_short() -> None:
    long = []
    for path in modules():
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                length = (node.end_lineno or node.lineno) - node.lineno + 1
                if length > MAX_FUNCTION_LINES:
                    long.append(f"{path.relative_to(PACKAGE)}:{node.lineno} {node.name} ({length} lines)")
    assert not long, f"functions over {MAX_FUNCTION_LINES} lines: {long}"
