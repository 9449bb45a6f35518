"""Reading model statements (``CREATE``/``ALTER``/``DROP``/``SHOW``/``DESCRIBE MODEL``) from tokens.

Flink's parser has already accepted the statement when these run (its syntax errors speak
first); they only pick out what the SQL layer needs: the name, the options, the columns.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from ..engine import Column, FlinkType
from ..errors import TritonConfigError
from .lexer import Kind, Token, string_value, tokenize, unquote_identifier

__all__ = [
    "ColumnSpec",
    "ModelStatement",
    "column_specs",
    "declared_columns",
    "model_name",
    "model_statement",
    "option_pairs",
    "with_options",
]


@dataclass(frozen=True)
class ColumnSpec:
    """One INPUT or OUTPUT column as written: name, type text, comment."""

    name: str
    type_text: str
    comment: str | None = None


@dataclass(frozen=True)
class ModelStatement:
    """What kind of model statement a statement is, and the tokens after its keywords."""

    kind: str  #: CREATE, ALTER, DROP, SHOW, SHOW CREATE, DESCRIBE
    temporary: bool
    if_clause: bool  #: IF EXISTS / IF NOT EXISTS
    rest: list[Token]  #: the meaningful tokens after the keywords (and the IF clause)


def model_statement(statement: str) -> ModelStatement | None:
    """The model statement ``statement`` is, or None for any other statement."""
    tokens = [t for t in tokenize(statement) if not t.trivia]
    words = [t.upper if t.kind is Kind.WORD else "" for t in tokens[:5]]

    def after(n: int, kind: str, temporary: bool = False) -> ModelStatement:
        rest = tokens[n:]
        guard = ["IF", "NOT", "EXISTS"] if kind == "CREATE" else ["IF", "EXISTS"]
        matched = [t.upper for t in rest[: len(guard)]] == guard
        return ModelStatement(kind, temporary, matched, rest[len(guard) :] if matched else rest)

    if words[:2] == ["CREATE", "MODEL"] or words[:3] == ["CREATE", "TEMPORARY", "MODEL"]:
        temporary = words[1] == "TEMPORARY"
        return after(3 if temporary else 2, "CREATE", temporary)
    if words[:2] == ["DROP", "MODEL"] or words[:3] == ["DROP", "TEMPORARY", "MODEL"]:
        temporary = words[1] == "TEMPORARY"
        return after(3 if temporary else 2, "DROP", temporary)
    if words[:2] == ["ALTER", "MODEL"]:
        return after(2, "ALTER")
    if words[:2] == ["SHOW", "MODELS"]:
        return ModelStatement("SHOW", False, False, tokens[2:])
    if words[:3] == ["SHOW", "CREATE", "MODEL"]:
        return ModelStatement("SHOW CREATE", False, False, tokens[3:])
    if words[:2] in (["DESCRIBE", "MODEL"], ["DESC", "MODEL"]):
        return ModelStatement("DESCRIBE", False, False, tokens[2:])
    return None


def name_at(tokens: Sequence[Token], i: int = 0) -> tuple[str, int]:
    """The (possibly qualified) name starting at ``tokens[i]``, and the index after it."""
    j = i
    while j < len(tokens) and (tokens[j].kind in (Kind.WORD, Kind.QUOTED) or tokens[j].text == "."):
        if j > i and tokens[j].kind in (Kind.WORD, Kind.QUOTED) and tokens[j - 1].text != ".":
            break  # the next word (INPUT, WITH, SET, ...) is not part of the name
        j += 1
    return "".join(t.text for t in tokens[i:j]), j


def option_pairs(tokens: Sequence[Token]) -> dict[str, str]:
    """``('k' = 'v', ...)`` pairs from the tokens after ``WITH`` or ``SET``."""
    toks = [t for t in tokens if t.text not in ("(", ")", ",")]
    return {
        string_value(k): string_value(v)
        for k, eq, v in zip(toks, toks[1:], toks[2:])
        if k.kind is Kind.STRING and eq.text == "=" and v.kind is Kind.STRING
    }


def with_options(tokens: list[Token]) -> dict[str, str]:
    """The ``WITH (...)`` options of a statement's tokens."""
    for i, tok in enumerate(tokens):
        if tok.is_word("WITH") and i + 1 < len(tokens) and tokens[i + 1].text == "(":
            return option_pairs(tokens[i + 1 :])
    return {}


def model_name(tokens: list[Token]) -> str:
    """The model name of a ``CREATE [TEMPORARY] MODEL [IF NOT EXISTS] name ...``."""
    i = next(i for i, t in enumerate(tokens) if t.is_word("MODEL")) + 1
    if i + 2 < len(tokens) and tokens[i].is_word("IF") and tokens[i + 1].is_word("NOT"):
        i += 3
    return name_at(tokens, i)[0]


def _clause_end(tokens: Sequence[Token], open_at: int) -> int:
    depth = 0
    for j in range(open_at, len(tokens)):
        if tokens[j].text in ("(", "<"):
            depth += 1
        elif tokens[j].text in (")", ">"):
            depth -= 1
            if depth == 0:
                return j
    return len(tokens)


def column_specs(tokens: list[Token], clause: str) -> list[ColumnSpec]:
    """``INPUT (name type [COMMENT '...'], ...)`` (or OUTPUT) as :class:`ColumnSpec` s."""
    for i, tok in enumerate(tokens):
        if not (tok.is_word(clause) and i + 1 < len(tokens) and tokens[i + 1].text == "("):
            continue
        inner = tokens[i + 2 : _clause_end(tokens, i + 1)]
        result: list[ColumnSpec] = []
        current: list[Token] = []
        depth = 0
        for t in [*inner, Token(Kind.PUNCT, ",", -1)]:
            depth += t.text in ("(", "<")
            depth -= t.text in (")", ">")
            if t.text == "," and depth == 0:
                if current:
                    result.append(_column_spec(current))
                current = []
            else:
                current.append(t)
        return result
    return []


def _column_spec(tokens: list[Token]) -> ColumnSpec:
    type_tokens, comment = [], None
    for k, c in enumerate(tokens[1:], 1):
        if c.is_word("COMMENT"):
            comment = string_value(tokens[k + 1]) if k + 1 < len(tokens) else None
            break
        type_tokens.append(c.text)
    type_text = " ".join(type_tokens).replace(" < ", "<").replace("< ", "<").replace(" >", ">")
    return ColumnSpec(unquote_identifier(tokens[0].text), type_text, comment)


def model_comment(tokens: list[Token]) -> str | None:
    """The model's ``COMMENT '...'`` (after OUTPUT, before WITH), not a column's."""
    depth = 0
    for i, tok in enumerate(tokens):
        depth += tok.text in ("(", "<")
        depth -= tok.text in (")", ">")
        if depth == 0 and tok.is_word("COMMENT") and i + 1 < len(tokens) and tokens[i + 1].kind is Kind.STRING:
            return string_value(tokens[i + 1])
    return None


def declared_columns(tokens: list[Token], clause: str) -> list[Column]:
    """The INPUT or OUTPUT columns of a CREATE MODEL, parsed (an unsupported type is an error
    naming the column)."""
    columns = []
    for spec in column_specs(tokens, clause):
        try:
            columns.append(Column(spec.name, FlinkType.parse(spec.type_text)))
        except TritonConfigError as exc:
            raise TritonConfigError(f"{clause} column `{spec.name}`: {exc.message}") from None
    return columns
