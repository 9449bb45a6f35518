"""ML_PREDICT for Table API users: ``predict(table, model, columns)`` and ``Model.predict``.

PyFlink up to 2.3 has no ``Model``; Flink's master (FLINK-39163, for 2.4) adds
``TableEnvironment.from_model(path)`` returning a ``Model`` with ``predict(input_table,
input_columns, options=None)`` and ``get_resolved_input_schema()`` /
``get_resolved_output_schema()``. :meth:`TritonSql.from_model` gives that shape on every
version, so code moves to 2.4 by changing one import. Both go through ``ML_PREDICT``, so they
share one implementation and its validation (input columns, then the model's outputs, a
clashing name gets ``0`` appended).
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping, Sequence
from typing import Any

from ..config import TritonOptions, TritonProvider, as_options
from ..engine import fetch_binding
from ..errors import TritonConfigError
from .lexer import map_literal, quote_identifier, string_literal
from .model_catalog import ModelInfo, logical_type
from .session import TritonSql

__all__ = ["Model", "predict"]

_names = itertools.count(1)


def predict(
    table: Any,
    model: str | TritonProvider | TritonOptions | Mapping[str, Any],
    columns: str | Sequence[str],
    config: Mapping[str, str] | None = None,
    *,
    session: TritonSql | None = None,
    output_type: Mapping[str, str] | None = None,
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
    :param output_type: with a provider: the model's OUTPUT columns as ``{name: Flink SQL type}``
        (``{"class_id": "BIGINT"}``), its INPUT columns then being the ``columns``' own types;
        nothing is asked of the server while planning (the function checks when it opens).

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
    cols = [columns] if isinstance(columns, str) else list(columns)
    if isinstance(model, str) and output_type:
        raise TritonConfigError(
            "predict: output_type goes with a provider; a catalog model's OUTPUT columns are those of its CREATE MODEL"
        )
    if not isinstance(model, str):
        session.execute_sql(
            _create_model_statement(model_ref, as_options(model), output_type, _column_types(session, view, cols))
        )
    descriptor = ", ".join(quote_identifier(c) for c in cols)
    config_sql = ", " + map_literal(config) if config else ""
    return session.sql_query(
        f"SELECT * FROM ML_PREDICT(TABLE {quote_identifier(view)}, MODEL {model_ref}, "
        f"DESCRIPTOR({descriptor}){config_sql})"
    )


class Model:
    """A catalog model, shaped as PyFlink 2.4's ``pyflink.table.model.Model`` (FLINK-39163).

    Example::

        >>> model = TritonSql(t_env).from_model("sentiment")
        >>> result = model.predict(reviews, ["review"], {"error-mode": "column"})
    """

    def __init__(self, session: TritonSql, path: str, info: ModelInfo) -> None:
        self._session = session
        self._path = path
        self._info = info

    def predict(self, input_table: Any, input_columns: Sequence[str], options: Mapping[str, str] | None = None) -> Any:
        """ML_PREDICT over ``input_table``: its columns, then the model's outputs (a ``Table``)."""
        return predict(input_table, self._path, list(input_columns), options, session=self._session)

    def get_resolved_input_schema(self) -> Any:
        """The model's INPUT columns: PyFlink's ``ResolvedSchema`` (a ``TableSchema`` before 2.1)."""
        return _schema(self._info.inputs)

    def get_resolved_output_schema(self) -> Any:
        """The model's OUTPUT columns: PyFlink's ``ResolvedSchema`` (a ``TableSchema`` before 2.1)."""
        return _schema(self._info.outputs)

    def __repr__(self) -> str:
        return f"Model({self._info.name})"


def _schema(columns: Sequence[tuple[str, str]]) -> Any:
    from pyflink.java_gateway import get_gateway
    from pyflink.table.types import _from_java_data_type

    jvm = get_gateway().jvm
    to_data_type = jvm.org.apache.flink.table.types.utils.TypeConversions.fromLogicalToDataType
    types = [to_data_type(logical_type(t)) for _, t in columns]
    try:
        from pyflink.table.catalog import ResolvedSchema  # PyFlink 2.1 and later
    except ImportError:
        from pyflink.table.table_schema import TableSchema

        return TableSchema([n for n, _ in columns], [_from_java_data_type(t) for t in types])
    j_columns = jvm.java.util.ArrayList()
    for (name, _), data_type in zip(columns, types):
        j_columns.add(jvm.org.apache.flink.table.catalog.Column.physical(name, data_type))
    return ResolvedSchema(j_resolved_schema=jvm.org.apache.flink.table.catalog.ResolvedSchema.of(j_columns))


def _column_types(session: TritonSql, view: str, columns: Sequence[str]) -> list[tuple[str, str]]:
    types = dict(session._table_columns(quote_identifier(view)))
    return [(c, types.get(c, "")) for c in columns]


def _create_model_statement(
    name: str, options: TritonOptions, output_type: Mapping[str, str] | None, column_types: Sequence[tuple[str, str]]
) -> str:
    """A temporary model of ``options``: its columns from ``output_type`` and the input's
    types, or else from the model's metadata on the server."""
    if output_type:
        inputs = [(quote_identifier(n), t) for n, t in column_types]
        outputs = [(quote_identifier(n), t) for n, t in output_type.items()]
    else:
        binding = fetch_binding(options, None, None)
        inputs = [(quote_identifier(s.name), s.flink_type.ddl()) for s in binding.inputs]
        outputs = [(quote_identifier(s.name), s.flink_type.ddl()) for s in binding.outputs]

    def cols(specs: Sequence[tuple[str, str]]) -> str:
        return ", ".join(f"{n} {t}" for n, t in specs)

    with_ = ", ".join(f"{string_literal(k)} = {string_literal(v)}" for k, v in options.to_map().items())
    return f"CREATE TEMPORARY MODEL {name} INPUT ({cols(inputs)}) OUTPUT ({cols(outputs)}) WITH ({with_})"
