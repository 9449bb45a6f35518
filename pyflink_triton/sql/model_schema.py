"""A triton model's INPUT and OUTPUT columns at ``CREATE MODEL``: declared, or read from the server.

``CREATE MODEL m WITH ('provider' = 'triton', ...)`` without INPUT or OUTPUT gets the missing
clauses from the model's metadata, by the same mapping ``predict()`` uses for a provider
(:func:`~pyflink_triton.engine.fetch_binding`, then ``FlinkType.ddl()``): a ``[4]`` FP32 input
is ``ARRAY<FLOAT>``, an INT64 output ``BIGINT``. The clauses are written into the statement's
text before it goes on, so the one text serves both catalogs: Flink's (2.1 and later), which
stores what it executes, and the session's (1.20, 2.0), which reads it as it reads a declared
model. ``DESCRIBE MODEL`` and ``SHOW CREATE MODEL`` then show the columns, and ``ML_PREDICT``
validates against them at once.

Declared columns are checked against the server when it answers, and left to the job when it
does not; missing ones need an answer, so a silent server is then an error that says what to
do: declare the columns, or start the server.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

from ..config import TritonOptions
from ..engine import Column, ModelBinding, TensorSpec, fetch_binding
from ..errors import TritonConfigError, TritonError, TritonSchemaError, TritonTransportError
from .lexer import Token, quote_identifier
from .model_ddl import name_at

__all__ = ["CHECK_TIMEOUT_S", "clause_span", "columns_clause", "resolve_columns", "with_columns"]

log = logging.getLogger(__name__)

# A CREATE MODEL asks the server only briefly: a slow or absent server is checked at open.
CHECK_TIMEOUT_S = 3.0


def resolve_columns(
    name: str, options: TritonOptions, inputs: list[Column], outputs: list[Column], *, ask_server: bool
) -> ModelBinding | None:
    """The model's binding when a clause is missing (from the server; it must answer), or the
    declared columns checked against the server when it answers (None, with a warning, when it
    does not; None when ``ask_server`` is False).

    :raises TritonConfigError: naming the model (``CREATE MODEL name: ...``) when the columns
        do not fit the model, or a clause is missing and the server cannot tell it.
    """
    complete = bool(inputs) and bool(outputs)
    if not ask_server:
        if complete:
            return None
        raise TritonConfigError(
            f"CREATE MODEL {name}: {_missing(inputs, outputs)} not declared, and this session does not ask "
            "the server at CREATE (check_models=False): declare them"
        )
    quick = options.replace(
        timeout_s=min(options.timeout_s, CHECK_TIMEOUT_S), max_retries=0, health_check_enabled=False
    )
    try:
        return fetch_binding(quick, inputs or None, outputs or None)
    except TritonTransportError as exc:
        if complete:
            # The cause once: a job that opens the model fails with it, and says it then; here,
            # it goes to the log (INFO), not to a terminal that would show it twice.
            log.warning("CREATE MODEL %s: the server did not answer; its types are checked when a job starts", name)
            log.info("CREATE MODEL %s: %s", name, exc)
            return None
        # str(exc) names the model and the endpoint, credentials stripped; never the options.
        raise TritonConfigError(
            f"CREATE MODEL {name}: {_missing(inputs, outputs)} not declared, and the server did not "
            f"answer to tell them ({exc}). Declare them (INPUT (...) OUTPUT (...)), or start the "
            "server and create the model again."
        ) from None
    except TritonError as exc:
        # A mismatch lists both sides (the model is the statement's); any other failure says
        # which model, at which endpoint, it concerns.
        detail = exc.message if isinstance(exc, TritonSchemaError) else str(exc)
        raise TritonConfigError(f"CREATE MODEL {name}: {detail}") from None


def _missing(inputs: list[Column], outputs: list[Column]) -> str:
    if not inputs and not outputs:
        return "its INPUT and OUTPUT columns are"
    return "its INPUT columns are" if not inputs else "its OUTPUT columns are"


def columns_clause(clause: str, specs: Sequence[TensorSpec]) -> str:
    """``INPUT (`features` ARRAY<FLOAT>)``: tensors as a column clause."""
    return f"{clause} (" + ", ".join(f"{quote_identifier(s.name)} {s.flink_type.ddl()}" for s in specs) + ")"


def clause_span(tokens: Sequence[Token], clause: str) -> tuple[int, int] | None:
    """Token indices of ``clause (`` and of its closing ``)``, at the statement's top level."""
    depth = 0
    for i, tok in enumerate(tokens):
        if depth == 0 and tok.is_word(clause) and i + 1 < len(tokens) and tokens[i + 1].text == "(":
            inner = 0
            for j in range(i + 1, len(tokens)):
                inner += tokens[j].text == "("
                inner -= tokens[j].text == ")"
                if inner == 0:
                    return i, j
            return None
        depth += tok.text == "("
        depth -= tok.text == ")"
    return None


def with_columns(statement: str, tokens: Sequence[Token], binding: ModelBinding) -> str:
    """``statement`` (a CREATE MODEL; ``tokens`` its meaningful tokens) with the clauses it
    lacks written in from ``binding``, where Flink's grammar has them: INPUT after the name,
    OUTPUT after INPUT. The rest of the text is kept as written."""
    inputs, outputs = clause_span(tokens, "INPUT"), clause_span(tokens, "OUTPUT")
    if inputs is not None and outputs is not None:
        return statement
    model = next(i for i, t in enumerate(tokens) if t.is_word("MODEL")) + 1
    if model + 2 < len(tokens) and tokens[model].is_word("IF") and tokens[model + 1].is_word("NOT"):
        model += 3
    after_name = tokens[name_at(tokens, model)[1] - 1].end
    added = []
    if inputs is None:
        added.append(columns_clause("INPUT", binding.inputs))
    if outputs is None:
        added.append(columns_clause("OUTPUT", binding.outputs))
    at = after_name if inputs is None else tokens[inputs[1]].end
    return statement[:at] + "".join(" " + clause for clause in added) + statement[at:]
