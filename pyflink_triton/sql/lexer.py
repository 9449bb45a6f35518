"""A small Flink SQL lexer: enough to split scripts and find ``ML_PREDICT`` calls.

It knows what must never be cut or searched inside: string literals (``'it''s'``), quoted
identifiers (`` `a``b` ``), double-quoted text, line comments (``--``) and block comments
(``/* */``). Everything else is words, numbers and punctuation. Tokens keep their exact text
and offsets, so rewriting a statement changes only the spans it means to.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from enum import Enum
from typing import cast

from ..errors import TritonConfigError

__all__ = [
    "Kind",
    "Token",
    "complete_statements",
    "is_insert",
    "split_statements",
    "string_value",
    "tokenize",
    "unquote_identifier",
]


class Kind(Enum):
    WORD = "word"  # identifiers and keywords
    QUOTED = "quoted"  # `identifier`
    STRING = "string"  # 'literal'
    DQUOTED = "dquoted"  # "text"
    NUMBER = "number"
    PUNCT = "punct"
    SPACE = "space"
    COMMENT = "comment"


@dataclass(frozen=True, slots=True)
class Token:
    kind: Kind
    text: str
    start: int

    @property
    def end(self) -> int:
        return self.start + len(self.text)

    @property
    def upper(self) -> str:
        return self.text.upper()

    @property
    def trivia(self) -> bool:
        """White space or a comment: no meaning to the statement."""
        return self.kind in (Kind.SPACE, Kind.COMMENT)

    def is_word(self, *words: str) -> bool:
        return self.kind is Kind.WORD and self.text.upper() in words


_PATTERNS = [
    (Kind.SPACE, r"\s+"),
    (Kind.COMMENT, r"--[^\n]*|/\*.*?\*/"),
    (Kind.STRING, r"[xX]?'(?:[^']|'')*'"),
    (Kind.QUOTED, r"`(?:[^`]|``)*`"),
    (Kind.DQUOTED, r'"(?:[^"]|"")*"'),
    (Kind.NUMBER, r"\d+(?:\.\d*)?(?:[eE][+-]?\d+)?|\.\d+(?:[eE][+-]?\d+)?"),
    (Kind.WORD, r"[^\W\d]\w*"),
    # Never a lone quote or "/*": those start a literal or comment that was not closed.
    (Kind.PUNCT, r"=>|<>|<=|>=|!=|\|\||::|/(?!\*)|[^\s\w'\"`/]"),
]
_LEXER = re.compile("|".join(f"(?P<{k.name}>{p})" for k, p in _PATTERNS), re.DOTALL)


def tokenize(sql: str) -> list[Token]:
    """Split SQL text into tokens, trivia included (joined, they give the text back)."""
    tokens: list[Token] = []
    pos = 0
    while pos < len(sql):
        m = _LEXER.match(sql, pos)
        if m is None or m.end() == pos:
            ch = sql[pos]
            what = {"'": "string literal", "`": "quoted identifier", '"': "quoted text"}.get(ch)
            if what is None and sql.startswith("/*", pos):
                what = "block comment"
            line = sql.count("\n", 0, pos) + 1
            raise TritonConfigError(f"Unclosed {what or repr(ch)} starting at line {line}")
        kind = Kind[cast(str, m.lastgroup)]  # every alternative of the pattern is a named group
        tokens.append(Token(kind, m.group(), pos))
        pos = m.end()
    return tokens


def split_statements(script: str) -> list[str]:
    """Split a script on top-level semicolons; empty statements are dropped.

    Semicolons inside strings, quoted identifiers and comments do not split, nor do those
    inside ``[EXECUTE] STATEMENT SET BEGIN ... END``.
    """
    statements, tail = complete_statements(script)
    return statements + ([tail.strip()] if _has_content(tail) else [])


def complete_statements(text: str) -> tuple[list[str], str]:
    """The statements of ``text`` that end with their ``;``, and the text after the last one.

    As :func:`split_statements` splits; the rest is what a shell keeps reading lines for.

    :raises TritonConfigError: for a string, quoted identifier or comment left open.
    """
    statements: list[str] = []
    start = 0
    in_set = False
    meaningful: list[Token] = []
    for tok in tokenize(text):
        if tok.trivia:
            continue
        if (
            tok.is_word("BEGIN")
            and len(meaningful) >= 2
            and meaningful[-1].is_word("SET")
            and meaningful[-2].is_word("STATEMENT")
        ):
            in_set = True
        elif in_set and tok.is_word("END"):
            in_set = False
        if tok.text == ";" and not in_set:
            statement = text[start : tok.start]
            if _has_content(statement):
                statements.append(statement.strip())
            start = tok.end
            meaningful = []
            continue
        meaningful.append(tok)
    return statements, text[start:]


def is_insert(statement: str) -> bool:
    """Whether a statement submits a job that writes to sinks (INSERT, a statement set)."""
    words = [t.upper for t in tokenize(statement) if not t.trivia][:3]
    return bool(words) and (
        words[0] == "INSERT"
        or words[:2] == ["EXECUTE", "STATEMENT"]
        or words[:3] == ["BEGIN", "STATEMENT", "SET"]
        or (words[0] == "EXECUTE" and words[1:2] == ["INSERT"])
    )


def _has_content(text: str) -> bool:
    return any(not t.trivia for t in tokenize(text))


def unquote_identifier(text: str) -> str:
    """`` `a``b` `` -> ``a`b``; plain words as they are."""
    if text.startswith("`") and text.endswith("`"):
        return text[1:-1].replace("``", "`")
    return text


def string_value(token: Token) -> str:
    """The value of a ``'...'`` literal."""
    if token.kind is not Kind.STRING or token.text[:1] != "'":
        raise ValueError(f"not a string literal: {token.text}")
    return token.text[1:-1].replace("''", "'")


def quote_identifier(name: str) -> str:
    """Quote an identifier for Flink SQL: `` `name` ``."""
    return "`" + name.replace("`", "``") + "`"


def string_literal(text: str) -> str:
    """``text`` as a SQL string literal (``'it''s'``)."""
    return "'" + text.replace("'", "''") + "'"


def map_literal(items: Mapping[str, str]) -> str:
    """A ``MAP['k1', 'v1', ...]`` literal of string keys and values."""
    return "MAP[" + ", ".join(string_literal(str(s)) for kv in items.items() for s in kv) + "]"
