"""Finding the example models and scripts: the installed package's copies first, then a checkout's
top-level folders (tests/test_packaging.py runs the installed wheel itself)."""

from __future__ import annotations

import io
from pathlib import Path

import pytest

from pyflink_triton import cli
from pyflink_triton.errors import TritonConfigError, TritonLaunchError
from pyflink_triton.server import default_model_repository, examples

ROOT = Path(__file__).resolve().parent.parent


def test_a_checkout_uses_its_top_level_folders() -> None:
    assert not examples.PACKAGED.exists()  # the copies exist only in a built wheel
    assert default_model_repository() == examples.model_repository() == ROOT / "model_repository"
    assert examples.example_scripts() == sorted((ROOT / "sql").glob("*.sql"))


def test_packaged_copies_come_first(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "model_repository").mkdir()
    (tmp_path / "sql").mkdir()
    (tmp_path / "sql" / "only_here.sql").write_text("SELECT 1;\n")
    monkeypatch.setattr(examples, "PACKAGED", tmp_path)
    assert examples.model_repository() == tmp_path / "model_repository"
    assert examples.example_script("only_here") == tmp_path / "sql" / "only_here.sql"
    with pytest.raises(TritonConfigError, match=r"'movie_reviews' is neither a file nor an example .*only_here"):
        examples.example_script("movie_reviews")


def test_without_either_the_error_names_both_places(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(examples, "PACKAGED", tmp_path / "package")
    monkeypatch.setattr(examples, "CHECKOUT", tmp_path / "checkout")
    with pytest.raises(TritonLaunchError) as caught:
        default_model_repository()
    assert str(tmp_path / "package" / "model_repository") in str(caught.value)
    assert str(tmp_path / "checkout" / "model_repository") in str(caught.value)
    assert examples.example_scripts() == []


def test_run_takes_an_example_by_name_and_a_path_as_written(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    assert cli._script_path("movie_reviews") == ROOT / "sql" / "movie_reviews.sql"
    assert cli._script_path("movie_reviews.sql") == ROOT / "sql" / "movie_reviews.sql"
    # A path with a folder is never swapped for an example, and a file of that name wins.
    assert cli._script_path("sql/movie_reviews.sql") == Path("sql/movie_reviews.sql")
    (tmp_path / "movie_reviews").write_text("SELECT 1;\n")
    assert cli._script_path("movie_reviews") == Path("movie_reviews")


def test_an_unknown_script_fails_before_anything_starts() -> None:
    stderr = io.StringIO()
    assert cli.run(cli._parser().parse_args(["run", "no_such_example"]), err=stderr) == 2
    err = stderr.getvalue()
    assert "'no_such_example' is neither a file nor an example script" in err and "movie_reviews" in err


def test_the_examples_command_lists_every_script() -> None:
    out = io.StringIO()
    assert cli.examples(out) == 0
    lines = out.getvalue().splitlines()
    assert lines[0] == f"model repository: {ROOT / 'model_repository'}"
    assert [line.split()[0] for line in lines[1:]] == [p.stem for p in sorted((ROOT / "sql").glob("*.sql"))]
