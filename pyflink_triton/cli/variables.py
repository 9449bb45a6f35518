"""``${VAR}`` in SQL text: substitution from the environment, and keeping the variables a script
uses out of the environment Flink and its Python workers inherit."""

from __future__ import annotations

import contextlib
import os
import re
from collections.abc import Iterable, Iterator, Mapping

from ..config import OPTION_SPECS
from ..config import VARIABLE as _VARIABLE
from ..errors import TritonConfigError

__all__ = [
    "check_secret_references",
    "hidden_from_flink",
    "located_statements",
    "script_variables",
    "secret_references",
    "substitute_variables",
    "uses",
]

#: Options whose ``${VAR}`` stays a reference, resolved where the function opens.
_SECRET_KEYS = frozenset(s.key for s in OPTION_SPECS if s.secret)


def substitute_variables(text: str, env: Mapping[str, str]) -> str:
    """Replace ``${VAR}`` and ``${VAR:-default}``; an unset variable without default is an error.

    Not inside the value of a secret option (``'auth-token' = '${TOK}'``): there the reference
    stays as written, so the catalog, ``SHOW CREATE MODEL``, plans and the job hold the name and
    the function resolves it from its own environment when it opens (``config.secrets``).
    """
    kept = _secret_values(text)

    def replace(m: re.Match[str]) -> str:
        if any(start <= m.start() < end for start, end in kept):
            return m.group()
        name, default = m.group(1), m.group(2)
        if name in env:
            return env[name]
        if default is not None:
            return default
        line = text.count("\n", 0, m.start()) + 1
        raise TritonConfigError(
            f"Variable ${{{name}}} (line {line}) is not set: export it, or write ${{{name}:-default}}"
        )

    return _VARIABLE.sub(replace, text)


# What a JVM or a Python process reads from its environment: a script may use these too
# (${HOME}/data.csv), and they stay.
_KEPT_VARIABLES = frozenset(
    {"PATH", "HOME", "USER", "LOGNAME", "SHELL", "LANG", "TZ", "TMPDIR", "PWD", "HOSTNAME", "TERM"}
)
_KEPT_PREFIXES = ("LC_", "JAVA_", "JVM_", "FLINK_", "HADOOP_", "PYTHON", "LD_")


def script_variables(text: str) -> set[str]:
    """The names of the ``${VAR}`` and ``${VAR:-default}`` variables ``text`` substitutes (those
    of secret options' values are references, kept: see :func:`secret_references`)."""
    kept = _secret_values(text)
    return {m.group(1) for m in _VARIABLE.finditer(text) if not any(a <= m.start() < b for a, b in kept)}


def secret_references(text: str) -> set[str]:
    """The names of the variables secret options of ``text`` refer to (resolved by the function)."""
    return {m.group(1) for a, b in _secret_values(text) for m in _VARIABLE.finditer(text, a, b)}


def check_secret_references(text: str, env: Mapping[str, str]) -> None:
    """For a run on the local mini-cluster, whose TaskManager inherits ``env``: every variable a
    secret option refers to without a default is set (else the job would fail only when its
    function opens, after the JVM's start).

    :raises TritonConfigError: naming the variable and its line, never a value.
    """
    for start, end in _secret_values(text):
        for m in _VARIABLE.finditer(text, start, end):
            if m.group(1) not in env and m.group(2) is None:
                line = text.count("\n", 0, m.start()) + 1
                raise TritonConfigError(
                    f"Variable ${{{m.group(1)}}} (line {line}) is not set: export it (a secret option "
                    "keeps the reference, and the function reads the variable when it opens, in the "
                    "run's local TaskManager), or write ${" + m.group(1) + ":-default}"
                )


def _secret_values(text: str) -> list[tuple[int, int]]:
    """The spans of the string literals that are values of secret options: ``'auth-token' = '...'``."""
    from ..sql.lexer import Kind, string_value, tokenize

    try:
        tokens = [t for t in tokenize(text) if not t.trivia]
    except TritonConfigError:
        return []  # an unclosed literal: the statement fails in Flink's parser, with its message
    return [
        (value.start, value.end)
        for key, eq, value in zip(tokens, tokens[1:], tokens[2:], strict=False)
        if key.kind is Kind.STRING
        and key.text.startswith("'")
        and string_value(key).strip().lower() in _SECRET_KEYS
        and eq.text == "="
        and value.kind is Kind.STRING
    ]


@contextlib.contextmanager
def hidden_from_flink(names: Iterable[str]) -> Iterator[None]:
    """Take ``names`` out of ``os.environ`` for the run, and put them back after.

    The JVM inherits this process's environment, and hands all of it to every Python worker
    it starts; Beam's ``DefaultJobBundleFactory`` logs a worker's environment whole at INFO
    when it closes it ("Closing environment ... beam:env:process:v1"), so a token exported for
    ``${TRITON_TOKEN}`` would land in Flink's log. Substituted into the SQL text, the values
    reach the functions in the job itself, never through the environment. The variables of secret
    options (``'auth-token' = '${TRITON_TOKEN}'``) are left out of ``names`` by the callers
    (:func:`secret_references`): the functions read them from this environment, which the local JVM
    hands to its Python workers with Beam's environment logger silenced
    (``sql.environment._ENVIRONMENT_LOGGER``).
    """
    hidden = {
        name: os.environ.pop(name)
        for name in sorted(names)
        if name in os.environ and name not in _KEPT_VARIABLES and not name.startswith(_KEPT_PREFIXES)
    }
    try:
        yield
    finally:
        os.environ.update(hidden)


def uses(text: str, name: str) -> bool:
    """Whether ``text`` uses ``${name}`` without a default."""
    return any(m.group(1) == name and m.group(2) is None for m in _VARIABLE.finditer(text))


def located_statements(script: str, written: str) -> Iterator[tuple[str, int, str]]:
    """Each statement of ``script`` (``written`` after substitution), with the number of the
    line where its first token is, and that line as written: a message may show it, as it
    shows no substituted value (a token, a password)."""
    from ..sql.lexer import split_statements, tokenize

    lines = written.splitlines()
    pos = 0
    for statement in split_statements(script):
        at = script.find(statement, pos)
        at = pos if at < 0 else at
        pos = at + len(statement)
        first = next((t.start for t in tokenize(statement) if not t.trivia), 0)
        line = script.count("\n", 0, at + first) + 1
        yield statement, line, lines[line - 1].strip() if line <= len(lines) else ""
