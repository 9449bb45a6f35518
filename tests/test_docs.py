"""The reference pages in docs/ against the code: the generated option table is current, every
option, ML_PREDICT config key, metric, CLI flag and layer the code has is documented (and
nothing it lacks), every example value is accepted, and every relative link resolves.

No server, no JVM: pure reading of files and of the code's own tables.
"""

from __future__ import annotations

import difflib
import importlib.util
import re
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from pyflink_triton.config import OPTION_SPECS, SUPPORTED_KEYS, TritonOptions
from pyflink_triton.config.spec import PROVIDER, REQUIRED_KEYS
from pyflink_triton.errors import TritonConfigError

from .test_architecture import LAYERS

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"

#: Pages other branches add; links to them may dangle until they are merged. The lead empties
#: this set at merge (test_pending_pages_are_still_missing fails once a page exists).
PENDING_PAGES: set[str] = set()

#: CLI subcommand -> the page that documents its flags.
CLI_PAGES = {"run": "deployment.md", "serve": "deployment.md", "sql": "shell.md"}


def load_generator() -> ModuleType:
    spec = importlib.util.spec_from_file_location("docs_generate", DOCS / "generate.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


generate = load_generator()


def read(page: str) -> str:
    return (DOCS / page).read_text(encoding="utf-8")


def table_rows(text: str, heading: str) -> list[list[str]]:
    """The cells of the first Markdown table after ``heading`` (header and rule left out)."""
    lines = text[text.index(heading) :].splitlines()
    rows: list[list[str]] = []
    for line in lines if lines[0].startswith("|") else lines[1:]:
        if line.startswith("|"):
            cells = [c.strip() for c in re.split(r"(?<!\\)\|", line.strip())[1:-1]]
            rows.append(cells)
        elif rows or line.startswith("#"):
            break
    assert len(rows) > 2, f"no table under {heading!r}"
    return rows[2:]


def unquote(cell: str) -> str:
    return cell.strip("`").replace("\\|", "|")


# -- options ----------------------------------------------------------------------------------


def test_generated_blocks_are_current() -> None:
    for page in generate.BLOCKS:
        committed, wanted = read(page), generate.expected(page)
        diff = "\n".join(
            difflib.unified_diff(
                committed.splitlines(),
                wanted.splitlines(),
                f"docs/{page} (committed)",
                "from the code",
                lineterm="",
                n=0,
            )
        )
        assert committed == wanted, f"docs/{page} is stale: run {generate.REGENERATE}\n{diff[:3000]}"


def documented_options() -> dict[str, list[str]]:
    rows = table_rows(read("options.md"), "<!-- options:begin -->")
    return {unquote(row[0]): row for row in rows}


def test_option_table_has_every_key_the_code_accepts_and_no_other() -> None:
    documented = documented_options()
    code = {"provider", *SUPPORTED_KEYS}
    assert set(documented) == code, (
        f"docs/options.md lacks {sorted(code - set(documented))}, lists unknown {sorted(set(documented) - code)}: "
        f"run {generate.REGENERATE}"
    )
    for spec in OPTION_SPECS:
        _key, kind, default, origin = documented[spec.key][:4]
        assert kind == generate.KIND_TYPES[spec.kind], spec.key
        if spec.key in REQUIRED_KEYS:
            assert default == "required", spec.key
        else:
            assert default == ("(unset)" if spec.default is None else f"`{spec.default}`"), spec.key
        assert origin == ("ours" if spec.ours else "Flink"), spec.key
        assert spec.description and documented[spec.key][5], spec.key
    with pytest.raises(TritonConfigError, match="Unsupported options"):  # a key the table lacks is refused
        TritonOptions.from_map({"endpoint": "http://h:8000", "model-name": "m", "not-an-option": "1"})


def test_every_documented_example_is_accepted() -> None:
    for key, row in documented_options().items():
        example = re.fullmatch(r"`'(.+)' = '(.*)'`", row[-1])
        assert example and example.group(1) == key, row
        value = example.group(2)
        if key == "provider":
            assert value == PROVIDER
            continue
        base = {"endpoint": "http://triton:8000/v2/models", "model-name": "m"}
        if key.startswith("tls-client-key"):  # a key (and its password) belongs to a certificate
            base["tls-client-cert"] = "/var/run/secrets/triton/tls.crt"
        TritonOptions.from_map({"provider": PROVIDER, **base, key: value})  # raises if refused


def test_a_removed_row_is_caught() -> None:
    page = read("options.md")
    row = next(line for line in page.splitlines() if line.startswith("| `timeout` |"))
    without_row = page.replace(row + "\n", "")
    assert without_row != page
    # The check compares a page with what the code makes of it: a page lacking a row is stale,
    # and regenerating it puts the row back.
    regenerated = generate.expected("options.md", without_row)
    assert regenerated != without_row, "the check would not notice a missing row"
    assert row in regenerated.splitlines()


def test_predict_config_keys_match_the_code() -> None:
    from pyflink_triton.sql.functions import CONFIG_KEYS, PredictConfig

    rows = table_rows(read("options.md"), "## ML_PREDICT's config map")
    documented = {unquote(row[0]): row for row in rows}
    assert set(documented) == set(CONFIG_KEYS), (
        f"docs/options.md's ML_PREDICT config table: missing {sorted(set(CONFIG_KEYS) - set(documented))}, "
        f"unknown {sorted(set(documented) - set(CONFIG_KEYS))}"
    )
    for key, row in documented.items():
        pairs = re.findall(r"'([^']*)'", row[-1])
        assert pairs and pairs[0] == key and len(pairs) % 2 == 0, row
        PredictConfig.parse(dict(zip(pairs[0::2], pairs[1::2])))  # the example is accepted


# -- metrics, CLI, layers ---------------------------------------------------------------------


class RecordingGroup:
    """Stands in for PyFlink's metric group: records what a function registers."""

    def __init__(self, names: dict[str, str] | None = None, keyed: bool = False) -> None:
        self.names: dict[str, str] = {} if names is None else names
        self.keyed = keyed  # counters in a key-value group are a histogram's buckets

    def add_group(self, name: str, extra: str | None = None) -> RecordingGroup:
        return RecordingGroup(self.names, keyed=extra is not None)

    def counter(self, name: str) -> Any:
        self.names[name] = "histogram" if self.keyed else "counter"
        return None

    def distribution(self, name: str) -> Any:
        self.names[name] = "distribution"
        return None

    def gauge(self, name: str, _read: Any) -> Any:
        self.names[name] = "gauge"
        return None


def test_metrics_page_lists_every_metric_the_functions_register() -> None:
    from pyflink_triton.flink.metrics import TritonMetrics

    group = RecordingGroup()
    TritonMetrics(group, engine=None)  # type: ignore[arg-type]
    documented = {unquote(row[0]): row[1] for row in table_rows(read("metrics.md"), "| Metric |")}
    assert documented == group.names


def cli_flags() -> dict[str, set[str]]:
    from pyflink_triton.cli import _parser

    parser = _parser()
    subparsers = next(a for a in parser._actions if a.choices and isinstance(a.choices, dict))
    return {
        name: {s for a in sub._actions for s in a.option_strings if s.startswith("--") and s != "--help"}
        for name, sub in subparsers.choices.items()
        if name in CLI_PAGES
    }


def test_every_cli_flag_is_documented() -> None:
    flags = cli_flags()
    assert set(flags) == set(CLI_PAGES), "a documented subcommand is gone"
    for command, page in CLI_PAGES.items():
        text = read(page)
        missing = sorted(f for f in flags[command] if not re.search(rf"(?<![\w-]){re.escape(f)}(?![\w-])", text))
        assert not missing, f"pyflink-triton {command}: docs/{page} lacks {missing}"


def test_architecture_page_names_every_layer_with_its_rank() -> None:
    rows = table_rows(read("architecture.md"), "| Rank | Layer |")
    documented = {unquote(row[1]).rstrip("/").removesuffix(".py"): int(row[0]) for row in rows}
    assert documented == LAYERS


def test_files_named_in_docs_exist() -> None:
    missing = []
    for page in sorted(DOCS.glob("*.md")):
        for path in re.findall(r"`([\w./-]+\.(?:py|sql))`", page.read_text(encoding="utf-8")):
            if not any((base / path).is_file() for base in (ROOT, ROOT / "pyflink_triton")):
                missing.append(f"{page.name}: {path}")
    assert not missing, missing


# -- links ------------------------------------------------------------------------------------

_LINK = re.compile(r"!?\[[^\]]*\]\(([^)\s]+)(?:\s+\"[^\"]*\")?\)")


def slugs(markdown: str) -> set[str]:
    """GitHub's anchors for the headings of a page."""
    found: set[str] = set()
    counts: dict[str, int] = {}
    for heading in re.findall(r"^#{1,6}\s+(.+?)\s*#*$", strip_code_blocks(markdown), re.MULTILINE):
        slug = re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")
        n = counts.get(slug, 0)
        counts[slug] = n + 1
        found.add(slug if n == 0 else f"{slug}-{n}")
    return found


def strip_code_blocks(markdown: str) -> str:
    return re.sub(r"^```.*?^```", "", markdown, flags=re.MULTILINE | re.DOTALL)


def links(markdown: str) -> list[str]:
    text = re.sub(r"`[^`\n]*`", "", strip_code_blocks(markdown))  # code spans: [..](..) is code there
    return _LINK.findall(text)


def broken_links(page: Path, text: str | None = None) -> list[str]:
    """What is wrong with the relative links of ``page`` (its ``text``, when given)."""
    text = page.read_text(encoding="utf-8") if text is None else text
    broken = []
    for target in links(text):
        if re.match(r"^[a-z][a-z0-9+.-]*:", target):  # http:, https:, mailto:
            continue
        path, _, anchor = target.partition("#")
        resolved = (page.parent / path).resolve() if path else page
        relative = resolved.relative_to(ROOT).as_posix() if resolved.is_relative_to(ROOT) else str(resolved)
        if path and not resolved.exists():
            if relative not in PENDING_PAGES:
                broken.append(f"{target}: no file {relative}")
            continue
        if anchor and resolved.suffix == ".md":
            target_text = resolved.read_text(encoding="utf-8") if path else text
            if anchor not in slugs(target_text):
                broken.append(f"{target}: no heading #{anchor} in {relative}")
    return broken


def pages_with_links() -> list[Path]:
    return [ROOT / "README.md", *sorted(DOCS.glob("*.md"))]


@pytest.mark.parametrize("page", pages_with_links(), ids=lambda p: p.relative_to(ROOT).as_posix())
def test_relative_links_resolve(page: Path) -> None:
    assert not broken_links(page), broken_links(page)


def test_the_link_check_catches_a_broken_link() -> None:
    assert slugs("## ML_PREDICT's config map\n## A `b` c\n## A `b` c\n") == {
        "ml_predicts-config-map",
        "a-b-c",
        "a-b-c-1",
    }
    probe = (
        "## Here\n[x](nowhere.md) [y](options.md#no-such-heading) [z](options.md#value-syntax) "
        "[k](kubernetes.md) `[c](code.md)` [h](#here) [g](#gone)\n"
    )
    assert broken_links(DOCS / "probe.md", probe) == [
        "nowhere.md: no file docs/nowhere.md",
        "options.md#no-such-heading: no heading #no-such-heading in docs/options.md",
        "#gone: no heading #gone in docs/probe.md",
    ]


def test_pending_pages_are_still_missing() -> None:
    present = sorted(p for p in PENDING_PAGES if (ROOT / p).exists())
    assert not present, f"{present} exist now: take them out of PENDING_PAGES in tests/test_docs.py"


def test_index_lists_every_page() -> None:
    index = read("index.md")
    listed = {target.partition("#")[0] for target in links(index)}
    pages = {p.name for p in DOCS.glob("*.md")} - {"index.md"}
    assert pages <= listed, f"docs/index.md does not list {sorted(pages - listed)}"


def test_every_test_the_matrix_names_exists() -> None:
    # pytest answers a node id that is gone with "not found" and runs nothing on that minor: a
    # renamed test would leave the matrix (and the README's version table) without its results.
    from .matrix import EXTRA_TESTS, ROOT, TESTS

    for node in [*TESTS, *(n for extra in EXTRA_TESTS.values() for n in extra)]:
        path, _, name = node.partition("::")
        source = (ROOT / path).read_text(encoding="utf-8")
        assert not name or re.search(rf"^def {re.escape(name)}\(", source, re.MULTILINE), node
