"""Find ``ML_PREDICT`` calls in a statement and replace them with text a caller renders.

Accepted forms (Flink's)::

    ML_PREDICT(TABLE t, MODEL m, DESCRIPTOR(c1, c2) [, MAP['k', 'v', ...]])
    ML_PREDICT(INPUT => TABLE t, MODEL => MODEL m, ARGS => DESCRIPTOR(c1), CONFIG => MAP[...])
    TABLE(ML_PREDICT(...))

The table argument may also be a parenthesised query (``TABLE (SELECT ...)``), which may itself
use ``ML_PREDICT``: inner calls are rewritten first. This module only reads and edits text;
what a call becomes is decided by the ``render`` callback (see ``session.py``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from ..errors import TritonConfigError
from .lexer import Kind, Token, string_value, tokenize, unquote_identifier

__all__ = ["PredictCall", "rewrite_predict_calls", "find_predict_calls"]

CONFIG_NOT_LITERAL = (
    "Config parameter of ML_PREDICT function should be a MAP data type consisting String literals."
)


@dataclass
class PredictCall:
    """One ``ML_PREDICT`` call as written.

    :param text: the call's text, ``TABLE(...)`` wrapper included.
    :param table: the input table's identifier text, or a query (``table_is_query``).
    :param model: the model identifier text as written (quotes kept).
    :param descriptor: descriptor column names, unquoted.
    :param config: the config map, or None when there is none.
    :param extra: the text of positional arguments past the fourth: Flink rejects such a
        call, so they are kept for its validation, never dropped.
    """

    text: str
    table: str
    table_is_query: bool
    model: str
    descriptor: list[str]
    config: dict[str, str] | None = field(default=None)
    extra: tuple[str, ...] = ()


def _meaningful(tokens: list[Token]) -> list[Token]:
    return [t for t in tokens if not t.trivia]


def _close(tokens: list[Token], i: int) -> int:
    """Index of the bracket closing the one at ``i``."""
    pairs = {"(": ")", "[": "]"}
    opener = tokens[i].text
    depth = 0
    for j in range(i, len(tokens)):
        text = tokens[j].text if tokens[j].kind is Kind.PUNCT else ""
        if text == opener:
            depth += 1
        elif text == pairs[opener]:
            depth -= 1
            if depth == 0:
                return j
    raise TritonConfigError(f"Unbalanced {opener!r} in ML_PREDICT call")


def _split_args(tokens: list[Token]) -> list[list[Token]]:
    """Split meaningful tokens on top-level commas."""
    args: list[list[Token]] = [[]]
    depth = 0
    for tok in tokens:
        if tok.kind is Kind.PUNCT and tok.text in "([":
            depth += 1
        elif tok.kind is Kind.PUNCT and tok.text in ")]":
            depth -= 1
        if depth == 0 and tok.kind is Kind.PUNCT and tok.text == ",":
            args.append([])
        else:
            args[-1].append(tok)
    return args if args[0] else []


def _identifier(tokens: list[Token], sql: str, what: str) -> str:
    ok = tokens and all(
        t.kind in (Kind.WORD, Kind.QUOTED) or (t.kind is Kind.PUNCT and t.text == ".") for t in tokens
    )
    if not ok:
        raise TritonConfigError(f"ML_PREDICT: {what} must be a name, got {_text(tokens, sql)!r}")
    return _text(tokens, sql)


def _text(tokens: list[Token], sql: str) -> str:
    return sql[tokens[0].start:tokens[-1].end] if tokens else ""


def _parse_call(sql: str, tokens: list[Token], open_idx: int, close_idx: int) -> PredictCall:
    args = _split_args(tokens[open_idx + 1:close_idx])
    named: dict[str, list[Token]] = {}
    positional: list[list[Token]] = []
    for arg in args:
        if len(arg) >= 2 and arg[1].text == "=>" and arg[0].kind in (Kind.WORD, Kind.QUOTED):
            named[unquote_identifier(arg[0].text).upper()] = arg[2:]
        elif named:
            raise TritonConfigError("ML_PREDICT: positional arguments cannot follow named ones")
        else:
            positional.append(arg)
    slots = dict(zip(("INPUT", "MODEL", "ARGS", "CONFIG"), positional))
    for key, value in named.items():
        if key not in ("INPUT", "MODEL", "ARGS", "CONFIG"):
            raise TritonConfigError(
                f"ML_PREDICT has no argument named {key}; its arguments are INPUT, MODEL, ARGS, CONFIG")
        slots[key] = value
    for key, keyword in (("INPUT", "TABLE"), ("MODEL", "MODEL"), ("ARGS", "DESCRIPTOR")):
        if key not in slots or not slots[key]:
            raise TritonConfigError(
                f"ML_PREDICT needs TABLE, MODEL and DESCRIPTOR arguments; {keyword} is missing")
        if not slots[key][0].is_word(keyword):
            raise TritonConfigError(
                f"ML_PREDICT: the {key} argument must start with {keyword}, got {_text(slots[key], sql)!r}")
    table_tokens = slots["INPUT"][1:]
    is_query = bool(table_tokens) and table_tokens[0].text == "(" and table_tokens[-1].text == ")"
    table = _text(table_tokens[1:-1], sql) if is_query else _identifier(table_tokens, sql, "TABLE")
    model = _identifier(slots["MODEL"][1:], sql, "MODEL")
    desc = slots["ARGS"][1:]
    if len(desc) < 2 or desc[0].text != "(" or desc[-1].text != ")":
        raise TritonConfigError(f"ML_PREDICT: expected DESCRIPTOR(col, ...), got {_text(slots['ARGS'], sql)!r}")
    columns = []
    for part in _split_args(desc[1:-1]):
        if len(part) != 1 or part[0].kind not in (Kind.WORD, Kind.QUOTED):
            raise TritonConfigError(f"ML_PREDICT: DESCRIPTOR takes column names, got {_text(part, sql)!r}")
        columns.append(unquote_identifier(part[0].text))
    config = None
    if "CONFIG" in slots:
        config = _parse_config(slots["CONFIG"])
    extra = tuple(_text(arg, sql) for arg in positional[4:])
    return PredictCall("", table, is_query, model, columns, config, extra)


def _parse_config(tokens: list[Token]) -> dict[str, str]:
    if len(tokens) < 3 or not tokens[0].is_word("MAP") or tokens[1].text != "[" or tokens[-1].text != "]":
        raise TritonConfigError(CONFIG_NOT_LITERAL)
    items = _split_args(tokens[2:-1])
    if any(len(i) != 1 or i[0].kind is not Kind.STRING or i[0].text[:1] != "'" for i in items) or len(items) % 2:
        raise TritonConfigError(CONFIG_NOT_LITERAL)
    values = [string_value(i[0]) for i in items]
    return dict(zip(values[0::2], values[1::2]))


def common_table_expressions(sql: str) -> dict[str, str]:
    """The statement's ``WITH name AS (...)`` tables: lower-cased name -> a query that yields
    it on its own (``WITH`` every table up to it ``SELECT * FROM name``), so that one can stand
    where the statement's context is gone (a view, Flink's validation of one call)."""
    tokens = _meaningful(tokenize(sql))
    start = next((i for i, t in enumerate(tokens[:-2]) if t.is_word("WITH")
                  and tokens[i + 1].kind in (Kind.WORD, Kind.QUOTED)), None)
    if start is None:
        return {}
    texts: list[str] = []
    result: dict[str, str] = {}
    j = start + 1
    while j + 2 < len(tokens) and tokens[j].kind in (Kind.WORD, Kind.QUOTED):
        name = tokens[j]
        j += 1
        if tokens[j].text == "(":  # a column list: v(a, b) AS (...)
            j = _close(tokens, j) + 1
        if j + 1 >= len(tokens) or not tokens[j].is_word("AS") or tokens[j + 1].text != "(":
            break
        end = _close(tokens, j + 1)
        texts.append(sql[name.start:tokens[end].end])
        result[unquote_identifier(name.text).lower()] = f"WITH {', '.join(texts)} SELECT * FROM {name.text}"
        j = end + 1
        if j >= len(tokens) or tokens[j].text != ",":
            break
        j += 1
    return result


def find_predict_calls(sql: str) -> list[tuple[int, int, PredictCall]]:
    """Every outermost ``ML_PREDICT`` call: ``(start, end, call)`` spans in ``sql``."""
    tokens = _meaningful(tokenize(sql))
    found = []
    i = 0
    while i < len(tokens):
        tok = tokens[i]
        if tok.is_word("ML_PREDICT") and i + 1 < len(tokens) and tokens[i + 1].text == "(":
            close = _close(tokens, i + 1)
            start_tok, end_tok = i, close
            # TABLE(ML_PREDICT(...)): replace the wrapper too.
            if i >= 2 and tokens[i - 1].text == "(" and tokens[i - 2].is_word("TABLE") \
                    and close + 1 < len(tokens) and tokens[close + 1].text == ")":
                start_tok, end_tok = i - 2, close + 1
            call = _parse_call(sql, tokens, i + 1, close)
            call.text = sql[tokens[start_tok].start:tokens[end_tok].end]
            found.append((tokens[start_tok].start, tokens[end_tok].end, call))
            i = end_tok + 1
            continue
        i += 1
    return found


def rewrite_predict_calls(sql: str, render: Callable[[PredictCall], str | None]) -> str:
    """Replace every ``ML_PREDICT`` call with ``render(call)``; None leaves a call as written.

    A call's table query is rewritten first, so ``render`` sees calls whose input has no
    ``ML_PREDICT`` left in it.
    """
    out: list[str] = []
    pos = 0
    for start, end, call in find_predict_calls(sql):
        if call.table_is_query:
            call.table = rewrite_predict_calls(call.table, render)
        replacement = render(call)
        out.append(sql[pos:start])
        out.append(call.text if replacement is None else replacement)
        pos = end
    out.append(sql[pos:])
    return "".join(out)
