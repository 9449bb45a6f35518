"""``predict(table, model, columns)``: ML_PREDICT for Table API users.

PyFlink 2.3 has no ``Model.predict``; this gives the same semantics (input columns, then the
model's outputs, a clashing name gets ``0`` appended) by going through ``ML_PREDICT``, so both
paths share one implementation and Flink's validation.
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping, Sequence
from typing import Any

from ..config import TritonOptions, TritonProvider, as_options
from ..engine import fetch_binding
from .lexer import map_literal, quote_identifier, string_literal
from .session import TritonSql

__all__ = ["predict"]

_names = itertools.count(1)


def predict(
    table: Any,
    model: str | TritonProvider | TritonOptions | Mapping[str, Any],
    columns: str | Sequence[str],
    config: Mapping[str, str] | None = None,
    *,
    session: TritonSql | None = None,
) -> Any:
    """Run a model over a ``Table``; return a ``Table`` of its columns and the model's outputs.

    :param table: the input ``Table``.
    :param model: a catalog model name (created with ``CREATE MODEL``), or a
        :class:`TritonProvider`, :class:`TritonOptions` or option dict: its INPUT and OUTPUT
        columns are then read from the model's metadata on the server.
    :param columns: the input columns fed to the model's inputs, by position.
    :param config: ML_PREDICT's config map (``async``, ``max-concurrent-operations``,
        ``timeout``, ``output-mode``).
    :param session: the :class:`TritonSql` to use (default: a new one on the table's environment).

    Example::

        >>> result = predict(reviews, "sentiment", ["review"])
        >>> result = predict(flowers, TritonProvider(endpoint=url, model_name="classifier"), "features")
    """
    t_env = table._t_env
    session = session or TritonSql(t_env)
    n = next(_names)
    view = f"__triton_table_{n}"
    t_env.create_temporary_view(view, table)
    if isinstance(model, str):
        model_ref = model
    else:
        model_ref = quote_identifier(f"__triton_model_{n}")
        session.execute_sql(_create_model_statement(model_ref, as_options(model)))
    cols = [columns] if isinstance(columns, str) else list(columns)
    descriptor = ", ".join(quote_identifier(c) for c in cols)
    config_sql = ", " + map_literal(config) if config else ""
    return session.sql_query(
        f"SELECT * FROM ML_PREDICT(TABLE {quote_identifier(view)}, MODEL {model_ref}, "
        f"DESCRIPTOR({descriptor}){config_sql})")


def _create_model_statement(name: str, options: TritonOptions) -> str:
    binding = fetch_binding(options, None, None)

    def cols(specs: Any) -> str:
        return ", ".join(f"{quote_identifier(s.name)} {s.flink_type.ddl()}" for s in specs)

    with_ = ", ".join(f"{string_literal(k)} = {string_literal(v)}" for k, v in options.to_map().items())
    return (f"CREATE TEMPORARY MODEL {name} INPUT ({cols(binding.inputs)}) "
            f"OUTPUT ({cols(binding.outputs)}) WITH ({with_})")
