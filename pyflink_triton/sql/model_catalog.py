"""Where a session's models live: Flink's catalog (2.1 and later), or ours (1.20, 2.0).

Flink 2.1 executes ``CREATE MODEL`` and stores models in its catalogs; :class:`FlinkModels`
only reads them. Flink 1.20 and 2.0 parse every model statement (their syntax errors and
checks such as "Model property list can not be empty." still speak), then answer
``Unsupported query``: there :class:`SessionModels` executes them itself, with Flink's result
tables and Flink 2.3's messages, so a script written for 2.3 runs unchanged. Its models live
as long as the session (as a ``GenericInMemoryCatalog``'s do).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from ..errors import TritonConfigError
from .java_errors import java_message
from .lexer import Kind, quote_identifier, string_value, unquote_identifier
from .model_ddl import ModelStatement, column_specs, model_comment, name_at, option_pairs, with_options

__all__ = ["FlinkModels", "ModelInfo", "SessionModels", "logical_type", "model_catalog"]


@dataclass(frozen=True)
class ModelInfo:
    """A model as a catalog holds it."""

    name: str  #: ``catalog.database.model``
    options: dict[str, str]
    inputs: list[tuple[str, str]]  #: (name, type as Flink prints it, ``NOT NULL`` included)
    outputs: list[tuple[str, str]]

    @property
    def is_triton(self) -> bool:
        return self.options.get("provider", "").strip().lower() == "triton"


def _identifier(t_env: Any, name: str) -> Any:
    """Flink's ``ObjectIdentifier`` for ``name`` in the current catalog and database."""
    j_tenv = t_env._j_tenv
    try:
        return j_tenv.getCatalogManager().qualifyIdentifier(j_tenv.getParser().parseIdentifier(name))
    except Exception as exc:  # py4j error: a malformed name
        raise TritonConfigError(f"Invalid model name {name!r}: {java_message(exc)}") from None


class FlinkModels:
    """Flink's own catalogs (2.1 and later): Flink runs every model statement."""

    def __init__(self, t_env: Any) -> None:
        self.t_env = t_env

    def lookup(self, name: str) -> ModelInfo | None:
        identifier = _identifier(self.t_env, name)
        found = self.t_env._j_tenv.getCatalogManager().getModel(identifier)
        if not found.isPresent():
            return None
        resolved = found.get().getResolvedModel()

        def columns(schema: Any) -> list[tuple[str, str]]:
            return [(c.getName(), c.getDataType().toString()) for c in schema.getColumns()]

        return ModelInfo(
            identifier.asSummaryString(),
            dict(resolved.getOptions()),
            columns(resolved.getResolvedInputSchema()),
            columns(resolved.getResolvedOutputSchema()),
        )

    def execute(self, statement: str, parsed: ModelStatement) -> Any | None:
        """None: Flink executes model statements itself."""
        return None


@dataclass
class _Column:
    name: str
    logical: Any  # Flink's LogicalType
    comment: str | None

    def type_text(self) -> str:
        return str(self.logical.asSummaryString())


@dataclass
class _Model:
    identifier: Any  # ObjectIdentifier
    inputs: list[_Column]
    outputs: list[_Column]
    options: dict[str, str]
    comment: str | None
    temporary: bool
    info: ModelInfo = field(init=False)

    def __post_init__(self) -> None:
        self.refresh()

    def refresh(self) -> None:
        self.info = ModelInfo(
            str(self.identifier.asSummaryString()),
            dict(self.options),
            [(c.name, c.type_text()) for c in self.inputs],
            [(c.name, c.type_text()) for c in self.outputs],
        )


class SessionModels:
    """Models kept by the session, for a Flink that cannot execute model statements (1.20, 2.0)."""

    def __init__(self, t_env: Any) -> None:
        from pyflink.java_gateway import get_gateway

        self.t_env = t_env
        self._jvm = get_gateway().jvm
        self._gateway = get_gateway()
        # (identifier, temporary): a temporary model may shadow a permanent one of the same name.
        self._models: dict[tuple[str, bool], _Model] = {}

    # -- lookup ---------------------------------------------------------------------------

    def lookup(self, name: str) -> ModelInfo | None:
        found = self._find(str(_identifier(self.t_env, name).asSummaryString()))
        return None if found is None else found.info

    def _find(self, key: str) -> _Model | None:
        """The model named ``key``: the temporary one first, as Flink resolves names."""
        return self._models.get((key, True)) or self._models.get((key, False))

    # -- statements -----------------------------------------------------------------------

    def execute(self, statement: str, parsed: ModelStatement) -> Any:
        """Execute a model statement Flink has parsed and validated: a ``TableResult``."""
        self._flink_parses(statement)
        handler = {
            "CREATE": self._create,
            "DROP": self._drop,
            "ALTER": self._alter,
            "SHOW": self._show,
            "SHOW CREATE": self._show_create,
            "DESCRIBE": self._describe,
        }[parsed.kind]
        return handler(parsed)

    def _flink_parses(self, statement: str) -> None:
        """Flink's parser and validator on the statement: its errors are the user's; its
        ``Unsupported query`` means only that this Flink cannot execute it."""
        try:
            self.t_env._j_tenv.getParser().parse(statement)
        except Exception as exc:
            if "Unsupported query" not in java_message(exc):
                raise
        else:  # pragma: no cover - a Flink that executes model statements uses FlinkModels
            raise AssertionError("this Flink executes model statements itself")

    def _create(self, parsed: ModelStatement) -> Any:
        name, _ = name_at(parsed.rest)
        identifier = _identifier(self.t_env, name)
        key = (str(identifier.asSummaryString()), parsed.temporary)
        if key in self._models:
            if parsed.if_clause:
                return self._ok()
            what = "Temporary model" if parsed.temporary else "Model"
            raise TritonConfigError(f"{what} '{identifier.asSerializableString()}' already exists")
        if not parsed.temporary:
            self._check_database(identifier)
        self._models[key] = _Model(
            identifier,
            self._columns(parsed.rest, "INPUT"),
            self._columns(parsed.rest, "OUTPUT"),
            with_options(parsed.rest),
            model_comment(parsed.rest),
            parsed.temporary,
        )
        return self._ok()

    def _drop(self, parsed: ModelStatement) -> Any:
        identifier = _identifier(self.t_env, name_at(parsed.rest)[0])
        key = (str(identifier.asSummaryString()), parsed.temporary)
        if key not in self._models:
            if parsed.if_clause:
                return self._ok()
            what = "Temporary model" if parsed.temporary else "Model"
            raise TritonConfigError(f"{what} with identifier '{key[0]}' does not exist.")
        del self._models[key]
        return self._ok()

    def _alter(self, parsed: ModelStatement) -> Any:
        name, i = name_at(parsed.rest)
        model = self._find(str(_identifier(self.t_env, name).asSummaryString()))
        if model is None:
            if parsed.if_clause:
                return self._ok()
            raise TritonConfigError(
                f"Model with identifier '{_identifier(self.t_env, name).asSummaryString()}' does not exist."
            )
        action, rest = parsed.rest[i], parsed.rest[i + 1 :]
        if action.is_word("SET"):
            model.options.update(option_pairs(rest))
        elif action.is_word("RESET"):
            for tok in rest:
                if tok.kind is Kind.STRING:
                    model.options.pop(string_value(tok), None)
        else:  # RENAME TO new_name
            target = _identifier(self.t_env, name_at(rest, 1)[0])
            del self._models[(str(model.identifier.asSummaryString()), model.temporary)]
            model.identifier = target
            self._models[(str(target.asSummaryString()), model.temporary)] = model
        model.refresh()
        return self._ok()

    def _show(self, parsed: ModelStatement) -> Any:
        manager = self.t_env._j_tenv.getCatalogManager()
        catalog, database = manager.getCurrentCatalog(), manager.getCurrentDatabase()
        rest = parsed.rest
        if rest and rest[0].is_word("FROM", "IN"):
            name, i = name_at(rest, 1)
            parts = [unquote_identifier(p) for p in re.findall(r"`(?:[^`]|``)*`|[^.]+", name)]
            catalog, database = (parts[0], parts[1]) if len(parts) == 2 else (catalog, parts[0])
            rest = rest[i:]
        names = sorted(
            str(m.identifier.getObjectName())
            for m in self._models.values()
            if not m.temporary
            and m.identifier.getCatalogName() == catalog
            and m.identifier.getDatabaseName() == database
        )
        negate = bool(rest) and rest[0].is_word("NOT")
        rest = rest[1:] if negate else rest
        if rest and rest[0].is_word("LIKE", "ILIKE") and len(rest) > 1:
            pattern = _like_regex(string_value(rest[1]), ignore_case=rest[0].is_word("ILIKE"))
            names = [n for n in names if bool(pattern.fullmatch(n)) != negate]
        return self._table([("model name", "STRING")], [(n,) for n in names])

    def _describe(self, parsed: ModelStatement) -> Any:
        model = self._require(name_at(parsed.rest)[0], "Model with the identifier '{}' doesn't exist.")
        columns = [(c, True) for c in model.inputs] + [(c, False) for c in model.outputs]
        header = [("name", "STRING"), ("type", "STRING"), ("null", "BOOLEAN"), ("is input", "BOOLEAN")]
        with_comments = any(c.comment for c, _ in columns)  # Flink shows the column only then
        if with_comments:
            header.append(("comment", "STRING"))
        rows: list[tuple[Any, ...]] = [
            (
                c.name,
                str(c.logical.copy(True).asSummaryString()),
                bool(c.logical.isNullable()),
                is_input,
                *((c.comment,) if with_comments else ()),
            )
            for c, is_input in columns
        ]
        return self._table(header, rows)

    def _show_create(self, parsed: ModelStatement) -> Any:
        model = self._require(name_at(parsed.rest)[0], "Model with the identifier '{}' doesn't exist.")

        def cols(columns: list[_Column]) -> str:
            return ", ".join(
                f"{quote_identifier(c.name)} {c.logical.asSerializableString()}"
                + (f" COMMENT {_quote(c.comment)}" if c.comment else "")
                for c in columns
            )

        lines = [
            f"CREATE {'TEMPORARY ' if model.temporary else ''}MODEL {model.identifier.asSerializableString()}",
            f"INPUT ({cols(model.inputs)})",
            f"OUTPUT ({cols(model.outputs)})",
        ]
        if model.comment:
            lines.append(f"COMMENT {_quote(model.comment)}")
        options = ",\n".join(f"  {_quote(k)} = {_quote(v)}" for k, v in sorted(model.options.items()))
        lines.append(f"WITH (\n{options}\n)\n")
        return self._table([("result", "STRING")], [("\n".join(lines),)])

    # -- helpers --------------------------------------------------------------------------

    def _require(self, name: str, message: str) -> _Model:
        identifier = _identifier(self.t_env, name)
        model = self._find(str(identifier.asSummaryString()))
        if model is None:
            raise TritonConfigError(message.format(identifier.asSummaryString()))
        return model

    def _check_database(self, identifier: Any) -> None:
        catalog = self.t_env._j_tenv.getCatalogManager().getCatalog(identifier.getCatalogName())
        if not catalog.isPresent():
            raise TritonConfigError(f"Catalog {identifier.getCatalogName()} does not exist.")
        if not catalog.get().databaseExists(identifier.getDatabaseName()):
            raise TritonConfigError(
                f"Database {identifier.getDatabaseName()} does not exist in Catalog {identifier.getCatalogName()}."
            )

    def _columns(self, tokens: list[Any], clause: str) -> list[_Column]:
        columns = []
        for spec in column_specs(tokens, clause):
            try:
                logical = logical_type(spec.type_text)
            except Exception as exc:
                raise TritonConfigError(f"{clause} column `{spec.name}`: {java_message(exc)}") from None
            columns.append(_Column(spec.name, logical, spec.comment))
        return columns

    def _ok(self) -> Any:
        from pyflink.table.table_result import TableResult

        return TableResult(self._jvm.org.apache.flink.table.api.internal.TableResultImpl.TABLE_RESULT_OK)

    def _table(self, header: list[tuple[str, str]], rows: list[tuple[Any, ...]]) -> Any:
        """A ``TableResult`` of ``rows``, made as Flink makes SHOW and DESCRIBE results
        (``TableResultUtils.buildTableResult``: same print style, same types)."""
        from pyflink.table.table_result import TableResult

        jvm, new_array = self._jvm, self._gateway.new_array
        names = new_array(jvm.java.lang.String, len(header))
        types = new_array(jvm.org.apache.flink.table.types.DataType, len(header))
        for i, (name, type_name) in enumerate(header):
            names[i] = name
            types[i] = getattr(jvm.org.apache.flink.table.api.DataTypes, type_name)()
        data = new_array(jvm.java.lang.Object, len(rows), len(header))
        for i, row in enumerate(rows):
            for j, value in enumerate(row):
                data[i][j] = value
        return TableResult(
            jvm.org.apache.flink.table.api.internal.TableResultUtils.buildTableResult(names, types, data)
        )


def logical_type(type_text: str) -> Any:
    """Flink's ``LogicalType`` of a SQL type string, parsed by Flink itself (its errors on a bad type)."""
    from pyflink.java_gateway import get_gateway

    jvm = get_gateway().jvm
    loader = jvm.java.lang.Thread.currentThread().getContextClassLoader()
    return jvm.org.apache.flink.table.types.logical.utils.LogicalTypeParser.parse(type_text, loader)


def _quote(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def _like_regex(pattern: str, *, ignore_case: bool) -> re.Pattern[str]:
    """SQL ``LIKE``: ``%`` any run, ``_`` one character, ``\\`` escapes."""
    out, i = [], 0
    while i < len(pattern):
        ch = pattern[i]
        if ch == "\\" and i + 1 < len(pattern):
            out.append(re.escape(pattern[i + 1]))
            i += 2
            continue
        out.append(".*" if ch == "%" else "." if ch == "_" else re.escape(ch))
        i += 1
    return re.compile("".join(out), re.IGNORECASE | re.DOTALL if ignore_case else re.DOTALL)


def model_catalog(t_env: Any) -> FlinkModels | SessionModels:
    """The model catalog for this Flink: Flink's own where it executes model statements."""
    from ..flink.versions import flink_features

    return FlinkModels(t_env) if flink_features().model_ddl else SessionModels(t_env)
