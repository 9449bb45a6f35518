"""Find ``ML_PREDICT`` calls in a statement and replace them with text a caller renders.

Accepted forms (Flink's)::

    ML_PREDICT(TABLE t, MODEL m, DESCRIPTOR(c1, c2) [, MAP['k', 'v', ...]])
    ML_PREDICT(INPUT => TABLE t, MODEL => MODEL m, ARGS => DESCRIPTOR(c1), CONFIG => MAP[...])
    TABLE(ML_PREDICT(...))

The table argument may also be a parenthesised query (``TABLE (SELECT ...)``), which may itself
use ``ML_PREDICT``: inner calls are rewritten first. This module only reads and edits text;
what a call becomes is decided by the ``render`` callback (see ``session.py``). A call our
parser cannot read is not rejected here first: it goes to a ``malformed`` callback, where the
session lets Flink speak about the call as written before our own message.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field

from ..errors import TritonConfigError
from .lexer import Kind, Token, string_value, tokenize, unquote_identifier

__all__ = ["PredictCall", "find_predict_calls", "rewrite_predict_calls", "statement_positions"]

CONFIG_NOT_LITERAL = "Config parameter of ML_PREDICT function should be a MAP data type consisting String literals."


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
    :param start: where ``text`` starts in the statement given to :func:`rewrite_predict_calls`.
    :param table_span: the span of the TABLE argument (the name, or the query in parentheses)
        in ``text``; None when the call has no ``TABLE ...`` argument to find.
    :param error: why our parser cannot read the call (the fields it could not read are then
        empty); :func:`rewrite_predict_calls` lets Flink speak about such a call first.
    """

    text: str
    table: str
    table_is_query: bool
    model: str
    descriptor: list[str]
    config: dict[str, str] | None = field(default=None)
    extra: tuple[str, ...] = ()
    start: int = 0
    table_span: tuple[int, int] | None = None
    error: TritonConfigError | None = None

    def with_table(self, table: str) -> str:
        """The call's text with its TABLE argument replaced by ``table`` (a view's name)."""
        if self.table_span is None:
            return self.text
        a, b = self.table_span
        return self.text[:a] + table + self.text[b:]


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


def _is_identifier(tokens: list[Token]) -> bool:
    return bool(tokens) and all(
        t.kind in (Kind.WORD, Kind.QUOTED) or (t.kind is Kind.PUNCT and t.text == ".") for t in tokens
    )


def _identifier(tokens: list[Token], sql: str, what: str) -> str:
    if not _is_identifier(tokens):
        raise TritonConfigError(f"ML_PREDICT: {what} must be a name, got {_text(tokens, sql)!r}")
    return _text(tokens, sql)


def _text(tokens: list[Token], sql: str) -> str:
    return sql[tokens[0].start : tokens[-1].end] if tokens else ""


_ARGUMENTS = ("INPUT", "MODEL", "ARGS", "CONFIG")


def _slots(args: list[list[Token]]) -> tuple[dict[str, list[Token]], list[list[Token]], TritonConfigError | None]:
    """The arguments by name (positional ones named by their place), the positional ones,
    and what is wrong with their order or names."""
    named: dict[str, list[Token]] = {}
    positional: list[list[Token]] = []
    error = None
    for arg in args:
        if len(arg) >= 2 and arg[1].text == "=>" and arg[0].kind in (Kind.WORD, Kind.QUOTED):
            named[unquote_identifier(arg[0].text).upper()] = arg[2:]
        elif named:
            error = error or TritonConfigError("ML_PREDICT: positional arguments cannot follow named ones")
        else:
            positional.append(arg)
    slots = dict(zip(_ARGUMENTS, positional))
    for key, value in named.items():
        if key not in _ARGUMENTS:
            error = error or TritonConfigError(
                f"ML_PREDICT has no argument named {key}; its arguments are INPUT, MODEL, ARGS, CONFIG"
            )
        else:
            slots[key] = value
    return slots, positional, error


def _locate_table(call: PredictCall, slot: list[Token] | None, sql: str) -> None:
    """The TABLE argument, wherever the rest of the call is wrong: its span (absolute here),
    and the name or query."""
    if not slot or not slot[0].is_word("TABLE") or len(slot) < 2:
        return
    rest = slot[1:]
    call.table_span = (rest[0].start, rest[-1].end)
    call.table_is_query = rest[0].text == "(" and rest[-1].text == ")"
    call.table = _text(rest[1:-1], sql) if call.table_is_query else _text(rest, sql)


def _parse_call(sql: str, tokens: list[Token], open_idx: int, close_idx: int) -> PredictCall:
    """The call; one our parser cannot read carries the reason in ``error``."""
    slots, positional, error = _slots(_split_args(tokens[open_idx + 1 : close_idx]))
    call = PredictCall("", "", False, "", [])
    _locate_table(call, slots.get("INPUT"), sql)
    model = slots.get("MODEL") or []
    if len(model) > 1 and model[0].is_word("MODEL") and _is_identifier(model[1:]):
        call.model = _text(model[1:], sql)
    try:
        if error is not None:
            raise error
        _read_call(call, slots, sql)
    except TritonConfigError as exc:
        call.error = exc
    call.extra = tuple(_text(arg, sql) for arg in positional[4:])
    return call


def _read_call(call: PredictCall, slots: dict[str, list[Token]], sql: str) -> None:
    for key, keyword in (("INPUT", "TABLE"), ("MODEL", "MODEL"), ("ARGS", "DESCRIPTOR")):
        if key not in slots or not slots[key]:
            raise TritonConfigError(f"ML_PREDICT needs TABLE, MODEL and DESCRIPTOR arguments; {keyword} is missing")
        if not slots[key][0].is_word(keyword):
            raise TritonConfigError(
                f"ML_PREDICT: the {key} argument must start with {keyword}, got {_text(slots[key], sql)!r}"
            )
    if not call.table_is_query:
        _identifier(slots["INPUT"][1:], sql, "TABLE")
    _identifier(slots["MODEL"][1:], sql, "MODEL")
    desc = slots["ARGS"][1:]
    if len(desc) < 2 or desc[0].text != "(" or desc[-1].text != ")":
        raise TritonConfigError(f"ML_PREDICT: expected DESCRIPTOR(col, ...), got {_text(slots['ARGS'], sql)!r}")
    for part in _split_args(desc[1:-1]):
        if len(part) != 1 or part[0].kind not in (Kind.WORD, Kind.QUOTED):
            raise TritonConfigError(f"ML_PREDICT: DESCRIPTOR takes column names, got {_text(part, sql)!r}")
        call.descriptor.append(unquote_identifier(part[0].text))
    if "CONFIG" in slots:
        call.config = _parse_config(slots["CONFIG"])


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
    start = next(
        (i for i, t in enumerate(tokens[:-2]) if t.is_word("WITH") and tokens[i + 1].kind in (Kind.WORD, Kind.QUOTED)),
        None,
    )
    if start is None:
        return {}
    texts: list[str] = []
    result: dict[str, str] = {}
    j = start + 1
    while j + 2 < len(tokens) and tokens[j].kind in (Kind.WORD, Kind.QUOTED):
        name = tokens[j]
        j += 1
        try:  # an unclosed bracket: Flink's parser tells where
            if tokens[j].text == "(":  # a column list: v(a, b) AS (...)
                j = _close(tokens, j) + 1
            if j + 1 >= len(tokens) or not tokens[j].is_word("AS") or tokens[j + 1].text != "(":
                break
            end = _close(tokens, j + 1)
        except TritonConfigError:
            break
        texts.append(sql[name.start : tokens[end].end])
        result[unquote_identifier(name.text).lower()] = f"WITH {', '.join(texts)} SELECT * FROM {name.text}"
        j = end + 1
        if j >= len(tokens) or tokens[j].text != ",":
            break
        j += 1
    return result


def find_predict_calls(sql: str, *, strict: bool = True) -> list[tuple[int, int, PredictCall]]:
    """Every outermost ``ML_PREDICT`` call: ``(start, end, call)`` spans in ``sql``.

    :param strict: raise :class:`TritonConfigError` for a call our parser cannot read; False
        returns it with ``error`` set instead (an unclosed one spans the rest of ``sql``).
    """
    tokens = _meaningful(tokenize(sql))
    found = []
    i = 0
    while i < len(tokens):
        if not (tokens[i].is_word("ML_PREDICT") and i + 1 < len(tokens) and tokens[i + 1].text == "("):
            i += 1
            continue
        try:
            close = _close(tokens, i + 1)
        except TritonConfigError as exc:
            if strict:
                raise
            call = PredictCall(sql[tokens[i].start :], "", False, "", [], start=tokens[i].start, error=exc)
            found.append((tokens[i].start, len(sql), call))
            break
        start_tok, end_tok = i, close
        # TABLE(ML_PREDICT(...)): replace the wrapper too.
        if (
            i >= 2
            and tokens[i - 1].text == "("
            and tokens[i - 2].is_word("TABLE")
            and close + 1 < len(tokens)
            and tokens[close + 1].text == ")"
        ):
            start_tok, end_tok = i - 2, close + 1
        call = _parse_call(sql, tokens, i + 1, close)
        if strict and call.error is not None:
            raise call.error
        call.start = start = tokens[start_tok].start
        call.text = sql[start : tokens[end_tok].end]
        if call.table_span is not None:
            call.table_span = (call.table_span[0] - start, call.table_span[1] - start)
        found.append((start, tokens[end_tok].end, call))
        i = end_tok + 1
    return found


def rewrite_predict_calls(
    sql: str,
    render: Callable[[PredictCall], str | None],
    malformed: Callable[[PredictCall], bool] | None = None,
    *,
    offset: int = 0,
) -> str:
    """Replace every ``ML_PREDICT`` call with ``render(call)``; None leaves a call as written.

    A call's table query is rewritten first, so ``render`` sees calls whose input has no
    ``ML_PREDICT`` left in it. A call our parser cannot read goes to ``malformed`` instead,
    which may raise an error of its own (Flink's) or return True to leave the call as
    written; otherwise, or without ``malformed``, the parser's error is raised.

    :param offset: where ``sql`` starts in the statement (a call's ``start`` counts from there).
    """
    out: list[str] = []
    pos = 0
    for start, end, call in find_predict_calls(sql, strict=False):
        call.start += offset
        if call.table_is_query and call.table_span is not None:
            inner = call.text.index(call.table, call.table_span[0]) if call.table else call.table_span[0]
            call.table = rewrite_predict_calls(call.table, render, malformed, offset=call.start + inner)
        if call.error is not None:
            if malformed is None or not malformed(call):
                raise call.error
            replacement = None
        else:
            replacement = render(call)
        out.append(sql[pos:start])
        out.append(call.text if replacement is None else replacement)
        pos = end
    out.append(sql[pos:])
    return "".join(out)


_POSITION = re.compile(r"(?i)\b(line )(\d+)(, column )(\d+)")


def statement_positions(
    message: str, probe: str, body_at: int, call: PredictCall, table: str | None, statement: str
) -> str:
    """Flink's ``line L, column C`` positions in ``probe`` (a query holding ``call``'s text
    from ``body_at``, its TABLE argument replaced by ``table``) as positions in ``statement``,
    where the user wrote them; positions outside the call are left as they are."""
    starts = [0] + [i + 1 for i, ch in enumerate(probe) if ch == "\n"]
    new_len = len(table) if table is not None and call.table_span is not None else None

    def move(m: re.Match[str]) -> str:
        line, column = int(m.group(2)), int(m.group(4))
        if not 1 <= line <= len(starts):
            return m.group(0)
        at = starts[line - 1] + column - 1 - body_at  # offset in the probe's body
        if at < 0:
            return m.group(0)
        if new_len is not None and call.table_span is not None and at >= call.table_span[0]:
            a, b = call.table_span
            at = a if at < a + new_len else at - new_len + (b - a)
        absolute = min(call.start + at, len(statement))
        before = statement[:absolute]
        new_line = before.count("\n") + 1
        new_column = absolute - (before.rfind("\n") + 1) + 1
        return f"{m.group(1)}{new_line}{m.group(3)}{new_column}"

    return _POSITION.sub(move, message)
