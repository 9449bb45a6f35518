"""``TritonSql``: run Flink SQL with ``CREATE MODEL ... ('provider' = 'triton')`` and ``ML_PREDICT``.

Flink stores models in its catalog itself (so ``SHOW MODELS``, ``DESCRIBE MODEL``,
``SHOW CREATE MODEL`` work), and validates ``ML_PREDICT`` calls itself; what PyFlink lacks is a
provider to run them. This session adds what is missing and nothing else:

- ``CREATE MODEL`` / ``ALTER MODEL`` of a triton model: its options are validated with
  :class:`TritonOptions` before Flink stores them, so a bad option fails at CREATE time;
- every ``ML_PREDICT`` over a triton model is first validated by Flink (its own messages), then
  replaced by a query over our Triton UDF with Flink's semantics: all input columns, then
  the model's output columns (a name taken by an input column gets ``0`` appended);
- everything else, and models of other providers, go to Flink unchanged.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import re
from collections.abc import Callable, Iterator
from typing import Any

from ..config import TritonOptions
from ..errors import TritonConfigError
from ..flink.versions import flink_features, requires
from .functions import CONFIG_KEYS, PredictConfig, flink_config_error, predict_function
from .input_rows import declared_rows
from .java_errors import internal_error, java_message
from .lexer import (
    Kind,
    Token,
    quote_identifier,
    split_statements,
    string_value,
    tokenize,
    unquote_identifier,
)
from .model_catalog import ModelInfo, logical_type, model_catalog
from .model_ddl import declared_columns, model_name, model_statement, option_pairs, with_options
from .model_schema import resolve_columns, with_columns
from .planner_thread import PlannerThreads
from .predict import PredictCall, common_table_expressions, rewrite_predict_calls, statement_positions

__all__ = ["ModelInfo", "TritonSql", "execute_sql", "has_content", "java_message"]

log = logging.getLogger(__name__)


class TritonSql:
    """Runs SQL statements and scripts on a ``TableEnvironment``, with triton models.

    Example::

        >>> sql = TritonSql(t_env)
        >>> sql.execute_script(open("sql/movie_reviews.sql").read())

    :param t_env: the PyFlink ``TableEnvironment``.
    :param check_models: at ``CREATE MODEL``, check the declared INPUT/OUTPUT columns against
        the model on the server when it answers, and read those not declared from it (False:
        offline, checked when a job opens; the columns must then be declared).
    """

    def __init__(self, t_env: Any, *, check_models: bool = True) -> None:
        self.t_env = t_env
        self.check_models = check_models
        self._functions: dict[str, str] = {}
        self._views = 0
        self._planner = PlannerThreads(t_env)
        self._models = model_catalog(t_env)
        self._input_rows: list[int | None] = []

    @property
    def input_rows(self) -> int | None:
        """Rows the last statement's triton ``ML_PREDICT`` calls receive, where the statement
        tells it (each call's input a ``VALUES`` list, read at planning, or a table that declares
        its size: :mod:`.input_rows`); None otherwise, or with no call. A progress bar's 100%: a
        filter Flink pushes below a call may take rows off."""
        if not self._input_rows or None in self._input_rows:
            return None
        return sum(n for n in self._input_rows if n is not None)

    # -- entry points ---------------------------------------------------------------------

    def execute_sql(self, statement: str, *, submitting: Callable[[], None] | None = None) -> Any:
        """Run one statement (a ``TableResult``, as ``t_env.execute_sql`` returns).

        :param submitting: called once the statement is planned here (``ML_PREDICT`` rewritten),
            as it goes to Flink, which plans it further and submits its job (a progress display).
        """
        return self._planner.run(lambda: self._execute_sql(statement, submitting))

    def sql_query(self, query: str) -> Any:
        """A ``Table`` for a query that may use ``ML_PREDICT`` over triton models."""
        return self._planner.run(lambda: self.t_env.sql_query(self.rewrite(query)))

    def _execute_sql(self, statement: str, submitting: Callable[[], None] | None = None) -> Any:
        tokens = [t for t in tokenize(statement) if not t.trivia]
        if not tokens:
            raise TritonConfigError("empty statement")
        parsed = model_statement(statement)
        if parsed is None:
            rewritten = self.rewrite(statement)
            if submitting is not None:
                submitting()
            return self.t_env.execute_sql(rewritten)
        if parsed.kind == "CREATE":
            completed = self._check_create_model(statement, tokens)
            if completed != statement:  # INPUT/OUTPUT from the server: the text that runs has them
                statement, parsed = completed, model_statement(completed)
                assert parsed is not None  # still the CREATE MODEL it was
        elif parsed.kind == "ALTER":
            self._check_alter_model(tokens)
        result = self._models.execute(statement, parsed)  # None: Flink executes model statements
        return self.t_env.execute_sql(statement) if result is None else result

    def execute_script(self, script: str) -> list[Any]:
        """Run every statement of a script in order; return their ``TableResult``s."""
        return [self.execute_sql(s) for s in split_statements(script)]

    def statements(self, script: str) -> Iterator[tuple[str, Any]]:
        """Run a script statement by statement, yielding ``(statement, TableResult)``."""
        for statement in split_statements(script):
            yield statement, self.execute_sql(statement)

    def rewrite(self, statement: str) -> str:
        """The statement with every triton ``ML_PREDICT`` call replaced (others kept).

        Flink speaks first about every call: a call our parser cannot read, and every call
        over a triton model before our own checks, goes to Flink as written; its message, if
        it has one, is the error.
        """
        ctes = common_table_expressions(statement)
        self._input_rows = []

        def own_table(call: PredictCall) -> PredictCall:
            query = None if call.table_is_query else ctes.get(unquote_identifier(call.table).lower())
            if query is not None:  # a WITH table: its query stands in for it
                call = dataclasses.replace(call, table=query, table_is_query=True)
            return call

        return rewrite_predict_calls(
            statement,
            lambda call: self._render(own_table(call), statement),
            lambda call: self._malformed(own_table(call), statement),
        )

    # -- models ---------------------------------------------------------------------------

    def model(self, name: str) -> ModelInfo | None:
        """Look a model up in the session's catalogs (temporary ones included); None if absent."""
        return self._models.lookup(name)

    def from_model(self, path: str) -> Any:
        """The model at ``path`` as a :class:`~pyflink_triton.sql.table_api.Model`, the shape of
        PyFlink 2.4's ``TableEnvironment.from_model`` (``model.predict(table, ["col"])``).

        :raises TritonConfigError: when no such model exists (Flink's words).
        """
        from .table_api import Model

        info = self.model(path)
        if info is None:
            raise TritonConfigError(f"Model '{path}' not found")
        return Model(self, path, info)

    def _check_create_model(self, statement: str, tokens: list[Token]) -> str:
        """Validate a triton model's options and columns; the statement to execute: as written,
        or with the INPUT/OUTPUT clauses it lacks, read from the model's metadata."""
        options = with_options(tokens)
        if options.get("provider", "").strip().lower() != "triton":
            return statement
        name = model_name(tokens)
        try:
            parsed = TritonOptions.from_map(options)
            inputs, outputs = declared_columns(tokens, "INPUT"), declared_columns(tokens, "OUTPUT")
        except TritonConfigError as exc:
            raise TritonConfigError(f"CREATE MODEL {name}: {exc.message}", option=exc.option) from None
        if not (inputs and outputs):
            self._flink_syntax_first(statement)  # its positions are in the text as written
        binding = resolve_columns(name, parsed, inputs, outputs, ask_server=self.check_models)
        return statement if binding is None else with_columns(statement, tokens, binding)

    def _flink_syntax_first(self, statement: str) -> None:
        """Flink's parser on the statement as written: a syntax error is reported before the
        server is asked, and at the positions the user typed (``Unsupported query``: a Flink
        that parses model statements but cannot execute them, 1.20 and 2.0)."""
        try:
            self.t_env._j_tenv.getParser().parse(statement)
        except Exception as exc:
            if "Unsupported query" not in java_message(exc):
                raise

    def _check_alter_model(self, tokens: list[Token]) -> None:
        i = 2
        if len(tokens) > 3 and tokens[2].is_word("IF") and tokens[3].is_word("EXISTS"):
            i = 4
        j = i
        while j < len(tokens) and (tokens[j].kind in (Kind.WORD, Kind.QUOTED) or tokens[j].text == "."):
            if tokens[j].is_word("SET", "RESET", "RENAME"):
                break
            j += 1
        name = "".join(t.text for t in tokens[i:j])
        if j >= len(tokens) or not tokens[j].is_word("SET", "RESET"):
            return  # RENAME TO: nothing to validate
        info = self.model(name)
        if info is None or not info.is_triton:
            return
        options = dict(info.options)
        inner = tokens[j + 1 :]
        if tokens[j].is_word("SET"):
            options.update(option_pairs(inner))
        else:
            for tok in inner:
                if tok.kind is Kind.STRING:
                    options.pop(string_value(tok), None)
        try:
            TritonOptions.from_map(options)
        except TritonConfigError as exc:
            raise TritonConfigError(f"ALTER MODEL {name}: {exc.message}", option=exc.option) from None

    # -- ML_PREDICT -----------------------------------------------------------------------

    def _render(self, call: PredictCall, statement: str) -> str | None:
        info = self.model(call.model)
        own = not flink_features().model_ddl  # a Flink without ML_PREDICT: the checks are ours
        if info is None and own:
            raise TritonConfigError(f"Object '{unquote_identifier(call.model)}' not found")
        if info is not None and own and not info.is_triton:  # no provider of Flink's could run it here
            provider = info.options.get("provider", "")
            raise TritonConfigError(
                f"{requires('model_ddl', f'ML_PREDICT with provider {provider!r}')}, "
                f"and {info.name} is not a triton model"
            )
        if info is None or not info.is_triton:
            return None  # Flink reports unknown models, and runs other providers itself
        table = self._input_table(call)
        if own:
            self._validate_call(call, table, info)
        else:
            self._validate_with_flink(call, table, statement)
        flink_says = flink_config_error(self.t_env, call.config or {})
        if flink_says:
            raise TritonConfigError(flink_says)
        raw_config = dict(call.config or {})
        unknown = sorted(k for k in raw_config if k not in CONFIG_KEYS)
        if unknown:
            log.info("ML_PREDICT ignores unknown config keys %s (as Flink does)", unknown)
        config = PredictConfig.parse(raw_config)
        plan = self._input_plan(table)
        _check_insert_only(plan)
        table, rows = self._materialize_if_literal(table, plan)
        self._input_rows.append(declared_rows(self.t_env, plan) if rows is None else rows)
        columns = self._table_columns(table)
        function = self._function_for(info, config)
        by_name = dict(columns)
        args = []
        for col, (_, model_type) in zip(call.descriptor, info.inputs):
            ref = quote_identifier(col)
            if _strip_not_null(by_name[col]) != _strip_not_null(model_type):
                ref = f"CAST({ref} AS {_strip_not_null(model_type)})"
            args.append(ref)
        taken = {name for name, _ in columns}
        outputs = []
        for out_name in config.output_names([n for n, _ in info.outputs]):
            alias = out_name + "0" if out_name in taken else out_name
            outputs.append((out_name, alias))
        call_sql = f"{quote_identifier(function)}({', '.join(args)})"
        if len(outputs) == 1:
            return f"(SELECT *, {call_sql} AS {quote_identifier(outputs[0][1])} FROM {table})"
        fields = ", ".join(
            f"`__triton_t`.`__triton_r`.{quote_identifier(o)} AS {quote_identifier(a)}" for o, a in outputs
        )
        inputs = ", ".join(f"`__triton_t`.{quote_identifier(c)}" for c, _ in columns)
        return f"(SELECT {inputs}, {fields} FROM (SELECT *, {call_sql} AS `__triton_r` FROM {table}) AS `__triton_t`)"

    def _malformed(self, call: PredictCall, statement: str) -> bool:
        """A call our parser cannot read: Flink's message about it when it has one; True (leave
        the call to Flink) for another provider's model; else our parser's message follows."""
        self._validate_with_flink(call, self._input_table(call) if call.table else None, statement)
        try:
            info = self.model(call.model) if call.model else None
        except TritonConfigError:
            info = None
        return info is not None and not info.is_triton

    def _input_table(self, call: PredictCall) -> str:
        """The call's input as a name: a query input (ours, or a WITH table) becomes a view."""
        if not call.table_is_query:
            return call.table
        self._views += 1
        table = quote_identifier(f"__triton_input_{self._views}")
        self.t_env.create_temporary_view(table.strip("`"), self.t_env.sql_query(call.table))
        return table

    def _validate_with_flink(self, call: PredictCall, table: str | None, statement: str) -> None:
        """Let Flink validate the call as written, its input named ``table`` (its own messages,
        positions counted in ``statement``); it then fails only for want of a provider, which
        is what we bring, or inside itself (an exception no user can act on: ours follow)."""
        if not flink_features().model_ddl:
            return  # Flink cannot parse ML_PREDICT: ours speak (_validate_call)
        body = call.with_table(table) if table is not None else call.text
        probe = f"SELECT * FROM {body}"
        try:
            self.t_env.sql_query(probe)
        except Exception as exc:
            message = java_message(exc)
            if "model provider" in message or "ModelProviderFactory" in message or internal_error(exc):
                return
            raise TritonConfigError(
                statement_positions(message, probe, len("SELECT * FROM "), call, table, statement)
            ) from None

    def _validate_call(self, call: PredictCall, table: str, info: ModelInfo) -> None:
        """Flink 2.3's checks of a call, in its words, for a Flink that has no ML_PREDICT."""
        columns = self._table_columns(table)
        if len(call.descriptor) != len(info.inputs):
            raise TritonConfigError(
                f"Number of descriptor columns ({len(call.descriptor)}) does not match "
                f"model input size ({len(info.inputs)})."
            )
        types = dict(columns)
        for position, (column, (_, model_type)) in enumerate(zip(call.descriptor, info.inputs)):
            if column not in types:
                raise TritonConfigError(
                    f"Descriptor column '{column}' not found in table columns. "
                    f"Available columns: {', '.join(n for n, _ in columns)}."
                )
            if not _implicitly_castable(types[column], model_type):
                raise TritonConfigError(
                    f"Descriptor column '{column}' type {_strip_not_null(types[column])} cannot be assigned to "
                    f"model input type {_strip_not_null(model_type)} at position {position}."
                )

    def _table_columns(self, table: str) -> list[tuple[str, str]]:
        schema = self.t_env.sql_query(f"SELECT * FROM {table}")._j_table.getResolvedSchema()
        return [(c.getName(), c.getDataType().toString()) for c in schema.getColumns()]

    def _input_plan(self, table: str) -> str:
        """The input's optimized physical plan, with each node's changelog mode."""
        from pyflink.table import ExplainDetail

        plan: str = self.t_env.explain_sql(f"SELECT * FROM {table}", ExplainDetail.CHANGELOG_MODE)
        return plan.split("== Optimized Physical Plan ==")[-1].split("== Optimized Execution Plan ==")[0]

    def _materialize_if_literal(self, table: str, optimized: str) -> tuple[str, int | None]:
        """PyFlink 2.3 crashes when a pandas UDF's arguments become literals, which is what
        the planner makes of a ``VALUES`` source. Such a source is small and bounded: read it
        once and serve it through ``from_elements``, a real source. The table to read, and its
        rows when it was read (None: another source)."""
        if "Values(" not in optimized or "TableSourceScan(" in optimized:
            return table, None
        source = self.t_env.sql_query(f"SELECT * FROM {table}")
        with source.execute().collect() as results:
            rows = [tuple(r) for r in results]
        schema = source.get_schema()
        from pyflink.table import DataTypes

        row_type = DataTypes.ROW(
            [DataTypes.FIELD(n, t) for n, t in zip(schema.get_field_names(), schema.get_field_data_types())]
        )
        self._views += 1
        name = f"__triton_values_{self._views}"
        self.t_env.create_temporary_view(name, self.t_env.from_elements(rows, row_type))
        return quote_identifier(name), len(rows)

    def _function_for(self, info: ModelInfo, config: PredictConfig) -> str:
        options = TritonOptions.from_map(info.options)
        key = json.dumps(
            [info.name, sorted(options.to_map().items()), info.inputs, info.outputs, dataclasses.astuple(config)],
            default=str,
        )
        if key not in self._functions:
            function = predict_function(self.t_env, options, info.inputs, info.outputs, config)
            name = (
                "__triton_"
                + re.sub(r"\W", "_", info.name.split(".")[-1].strip("`"))
                + "_"
                + hashlib.sha1(key.encode()).hexdigest()[:10]
            )
            self.t_env.create_temporary_system_function(name, function)
            self._functions[key] = name
        return self._functions[key]


def has_content(result: Any) -> bool:
    """Whether a ``TableResult`` holds rows to show (a query, SHOW, DESCRIBE), not just "OK"."""
    from pyflink.table import ResultKind

    return bool(result.get_result_kind() == ResultKind.SUCCESS_WITH_CONTENT)


def execute_sql(t_env: Any, script: str) -> list[Any]:
    """Run a statement or a whole script with triton models; return the ``TableResult``s."""
    return TritonSql(t_env).execute_script(script)


def _check_insert_only(plan: str) -> None:
    """ML_PREDICT consumes inserts only, as Flink's does (its docs: no CDC input). Flink would
    say so itself, in these words, but only once a provider exists: its planner looks for one
    before it infers changelog modes."""
    top = next((line.strip() for line in plan.splitlines() if line.strip()), "")
    mode = re.search(r"changelogMode=\[([A-Z,]*)\]", top)
    if mode and set(mode.group(1).split(",")) - {"I"}:
        node = re.sub(r",\s*changelogMode=\[[A-Z,]*\]", "", top)
        raise TritonConfigError(
            f"ML_PREDICT doesn't support consuming update and delete changes which is produced by node {node}"
        )


def _implicitly_castable(source: str, target: str) -> bool:
    """Flink's own rule (``LogicalTypeCasts.supportsImplicitCast``), on type strings."""
    from pyflink.java_gateway import get_gateway

    casts = get_gateway().jvm.org.apache.flink.table.types.logical.utils.LogicalTypeCasts
    return bool(
        casts.supportsImplicitCast(logical_type(_strip_not_null(source)), logical_type(_strip_not_null(target)))
    )


def _strip_not_null(type_text: str) -> str:
    return re.sub(r"\s+NOT\s+NULL\s*$", "", type_text.strip(), flags=re.IGNORECASE)
