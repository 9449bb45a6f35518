"""Write the parts of docs/ that the code holds, between their markers; the rest is prose.

    .venv/bin/python docs/generate.py          # rewrite the generated blocks
    .venv/bin/python docs/generate.py --check  # exit 1 and name the stale pages

Three blocks: the option table of ``docs/options.md`` (between ``<!-- options:begin -->``
and ``<!-- options:end -->``), made from ``OPTION_SPECS`` in ``pyflink_triton/config/spec.py``,
the one place an option is declared; the metric table of ``docs/metrics.md`` (``metrics``),
made from ``METRICS`` in ``pyflink_triton/flink/metrics.py``; and the README's version x feature table, made from
``docs/matrix.json``, the outcome of every compatibility test on every minor that
``make test-matrix`` (``tests/matrix.py``) last wrote. ``tests/test_docs.py`` fails when a
page is stale.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

DOCS = Path(__file__).resolve().parent
ROOT = DOCS.parent
if str(ROOT) not in sys.path:  # run as a script from anywhere: import the checkout's package
    sys.path.insert(0, str(ROOT))

from pyflink_triton.config import OPTION_SPECS, OptionSpec  # noqa: E402
from pyflink_triton.config.spec import PROVIDER, REQUIRED_KEYS  # noqa: E402
from pyflink_triton.flink.metrics import METRICS  # noqa: E402

REGENERATE = ".venv/bin/python docs/generate.py"

#: An option's value kind as Flink's option tables name the type.
KIND_TYPES = {
    "string": "String",
    "int": "Integer",
    "float": "Double",
    "bool": "Boolean",
    "duration": "Duration",
    "size": "MemorySize",
    "map": "Map",
    "raw": "String",
}
#: A value of each kind, for an option whose row gives no ``example``.
KIND_SAMPLES = {"int": "1", "float": "0.5", "duration": "10s", "size": "64mb", "map": "k:v"}


def example_of(spec: OptionSpec) -> str:
    """The value the docs show for ``spec``: its own example, else one derived from its kind."""
    if spec.example:
        return spec.example
    if spec.kind == "bool":
        return "false" if spec.default == "true" else "true"
    return KIND_SAMPLES.get(spec.kind) or spec.default or "value"


def _cell(text: str) -> str:
    """Prose in a table cell: ``|`` ends a cell, ``<token>`` would read as HTML."""
    return text.replace("|", "\\|").replace("<", "&lt;").replace(">", "&gt;")


def _code(text: str) -> str:
    return "`" + text.replace("|", "\\|") + "`"


def option_rows() -> list[tuple[str, str, str, str, str, str, str]]:
    """One row per ``WITH`` key: key, type, default, origin, TritonProvider keyword, description,
    example. ``provider`` comes first: it selects these options."""
    rows = [("provider", "String", "required", "Flink", "-", f"Selects this provider; must be '{PROVIDER}'.", PROVIDER)]
    for spec in OPTION_SPECS:
        if spec.key in REQUIRED_KEYS:
            default = "required"
        else:
            default = "(unset)" if spec.default is None else spec.default
        keyword = spec.keyword or "-"
        rows.append(
            (
                spec.key,
                KIND_TYPES.get(spec.kind, spec.kind),
                default,
                "ours" if spec.ours else "Flink",
                keyword,
                spec.description,
                example_of(spec),
            )
        )
    return rows


def options_table() -> str:
    """The Markdown table of every ``CREATE MODEL ... WITH`` option of ``'provider' = 'triton'``."""
    lines = [
        f"<!-- Generated from pyflink_triton/config/spec.py by `{REGENERATE}`: edit the spec, not this table. -->",
        "",
        "| Key | Type | Default | Origin | `TritonProvider` keyword | Description | Example |",
        "|---|---|---|---|---|---|---|",
    ]
    for key, kind, default, origin, keyword, description, example in option_rows():
        shown_default = default if default in ("required", "(unset)") else _code(default)
        shown_keyword = "-" if keyword == "-" else _code(keyword)
        shown_example = _code(f"'{key}' = '{example}'")
        lines.append(
            f"| {_code(key)} | {kind} | {shown_default} | {origin} | {shown_keyword} "
            f"| {_cell(description)} | {shown_example} |"
        )
    return "\n".join(lines)


def metrics_table() -> str:
    """The Markdown table of the ``triton`` metric group, with each metric's Prometheus name."""
    lines = [
        f"<!-- Generated from pyflink_triton/flink/metrics.py by `{REGENERATE}`: edit METRICS, not this table. -->",
        "",
        "| Metric | Kind | Prometheus name | Meaning |",
        "|---|---|---|---|",
    ]
    for metric in METRICS:
        prometheus = metric.prometheus + ('{le="..."}' if metric.kind == "histogram" else "")
        lines.append(f"| {_code(metric.name)} | {metric.kind} | {_code(prometheus)} | {_cell(metric.meaning)} |")
    return "\n".join(lines)


MATRIX = DOCS / "matrix.json"
V = "tests/test_versions.py::"
#: The README's version x feature rows: label, the tests that prove it (id prefixes), and what a
#: cell says beyond pass/fail, from the features the matrix run detected.
FEATURE_ROWS: list[tuple[str, tuple[str, ...], Callable[[dict[str, Any]], str]]] = [
    ("KServe v2 client", ("tests/test_client.py::",), lambda f: ""),
    ("`triton_udf` (pandas), `configure_inference`", ("tests/test_udf_flink.py::",), lambda f: ""),
    ("metrics", ("tests/test_udf_metrics.py::",), lambda f: ""),
    ("error column, default values", (V + "test_ml_predict_error_column",), lambda f: ""),
    (
        "`CREATE`/`ALTER`/`DROP`/`SHOW`/`DESCRIBE MODEL`",
        (V + "test_model_statement", V + "test_bad_options"),
        lambda f: "Flink" if f["model_ddl"] else "ours",
    ),
    ("`CREATE MODEL` without INPUT/OUTPUT (from the server)", ("tests/test_model_schema.py::",), lambda f: ""),
    (
        "`ML_PREDICT`, streaming and batch",
        (V + "test_ml_predict", V + "test_an_unknown_model"),
        lambda f: "Flink validates" if f["model_ddl"] else "ours validates",
    ),
    (
        "async mode (`'async' = 'true'`, `async_triton_udf`)",
        (V + "test_async_udf",),
        lambda f: "yes" if f["async_scalar"] else "no: one-line error, needs 2.3",
    ),
    ("Table API `predict`, `from_model(...).predict`", (V + "test_from_model", V + "test_predict_with"), lambda f: ""),
    ("CLI `run`, `sql`, `serve`", ("tests/test_cli.py::", V + "test_cli_sql"), lambda f: ""),
    (
        "patch: async operation (FLINK-39532, ...)",
        (V + "test_each_patch", "tests/test_async_udf.py::"),
        lambda f: "applied" if f["patches"]["async-operation"] else "not applied",
    ),
    (
        "patch: Arrow input hook",
        ("tests/test_arrow_input.py::", V + "test_the_arrow_hook"),
        lambda f: "applied" if f["patches"]["arrow-input"] else "not applied",
    ),
    (
        "patch: planner thread (FLINK-23020)",
        ("tests/test_planner_thread.py::",),
        lambda f: "applied" if f["patches"]["planner-thread"] else "not applied",
    ),
]


def versions_table() -> str:
    """The README's version x feature table, from the last ``make test-matrix`` (docs/matrix.json)."""
    results: dict[str, Any] = json.loads(MATRIX.read_text(encoding="utf-8"))
    minors = list(results)
    lines = [
        "<!-- Generated from docs/matrix.json (written by `make test-matrix`) by "
        f"`{REGENERATE}`: run the matrix, not an edit. -->",
        "",
        "| feature | " + " | ".join(f"{results[m]['flink']}" for m in minors) + " |",
        "|---|" + "---|" * len(minors),
    ]
    for label, prefixes, note in FEATURE_ROWS:
        cells = []
        for minor in minors:
            outcomes = [o for t, o in results[minor]["tests"].items() if t.startswith(prefixes)]
            passed = sum(o == "passed" for o in outcomes)
            mark = "fail" if "failed" in outcomes or not passed else "pass"
            extra = note(results[minor]["features"])
            cells.append(f"{mark} ({passed})" + (f": {extra}" if extra else ""))
        lines.append(f"| {label} | " + " | ".join(cells) + " |")
    for key, label in (("passed", "tests passed"), ("skipped", "tests skipped"), ("failed", "tests failed")):
        lines.append(f"| {label} | " + " | ".join(str(results[m]["counts"][key]) for m in minors) + " |")
    for key, label in (
        ("flink_kept", "the wheel's install kept this Flink"),
        ("movie_reviews_ok", "the installed wheel runs `sql/movie_reviews.sql` right"),
    ):
        lines.append(f"| {label} | " + " | ".join("yes" if results[m][key] else "**no**" for m in minors) + " |")
    return "\n".join(lines)


#: page (relative to docs/) -> block name -> what goes between its markers.
BLOCKS: dict[str, dict[str, Callable[[], str]]] = {
    "options.md": {"options": options_table},
    "metrics.md": {"metrics": metrics_table},
    "../README.md": {"versions": versions_table},
}


def markers(name: str) -> tuple[str, str]:
    return f"<!-- {name}:begin -->", f"<!-- {name}:end -->"


def fill(text: str, name: str, body: str, *, page: str = "page") -> str:
    """``text`` with the block ``name`` replaced by ``body``.

    :raises ValueError: the markers are missing or out of order.
    """
    begin, end = markers(name)
    start, stop = text.find(begin), text.find(end)
    if start < 0 or stop < start:
        raise ValueError(f"{page}: missing or misplaced markers {begin} ... {end}")
    return text[: start + len(begin)] + "\n" + body + "\n" + text[stop:]


def expected(page: str, text: str | None = None) -> str:
    """The page as it should be: its text (``text``, else the file's) with every generated block made anew."""
    if text is None:
        text = (DOCS / page).read_text(encoding="utf-8")
    for name, make in BLOCKS[page].items():
        text = fill(text, name, make(), page=page)
    return text


def stale_pages() -> list[str]:
    """The pages whose generated blocks differ from what the code gives now."""
    return [page for page in BLOCKS if (DOCS / page).read_text(encoding="utf-8") != expected(page)]


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="only report stale pages (exit 1)")
    args = parser.parse_args(argv)
    stale = stale_pages()
    if args.check:
        for page in stale:
            print(f"docs/{page} is stale: run {REGENERATE}", file=sys.stderr)
        return 1 if stale else 0
    for page in stale:
        (DOCS / page).write_text(expected(page), encoding="utf-8")
        print(f"wrote docs/{page}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
