"""How many rows an ``ML_PREDICT`` input holds, where its plan tells it (a progress bar's 100%).

A ``VALUES`` input is read at planning (:meth:`TritonSql._materialize_if_literal`) and counted
there. Here: a bounded source that declares its size, read whole. Its optimized plan is one
``TableSourceScan`` of a whole table (no limit or filter pushed into it) under ``Calc`` nodes that
only compute columns (no ``where=``); the table is a ``datagen`` one with ``'number-of-rows'``
(fewer where a ``sequence`` field ends first). Any other plan: None, and the progress shows a rate.
"""

from __future__ import annotations

import re
from typing import Any

__all__ = ["declared_rows", "scanned_table"]

_NODE = re.compile(r"^\s*(?:\+- )?(\w+)\(")
_WHOLE_TABLE = re.compile(r"TableSourceScan\(table=\[\[([^\[\]]*)\]\]")


def scanned_table(plan: str) -> list[str] | None:
    """``[catalog, database, table]`` of a plan that reads one whole table and keeps every row;
    None for any other plan."""
    nodes = [(m.group(1), line) for line in plan.splitlines() if (m := _NODE.match(line))]
    scans = [line for name, line in nodes if name == "TableSourceScan"]
    if len(scans) != 1 or any(name not in ("Calc", "TableSourceScan") for name, _ in nodes):
        return None
    if any(name == "Calc" and "where=[" in line for name, line in nodes):
        return None
    table = _WHOLE_TABLE.search(scans[0])
    parts = table.group(1).split(", ") if table else []
    return parts if len(parts) == 3 else None


def declared_rows(t_env: Any, plan: str) -> int | None:
    """The rows the plan's input reads, where its table declares them (see the module); else None."""
    path = scanned_table(plan)
    if path is None:
        return None
    try:
        from pyflink.java_gateway import get_gateway

        identifier = get_gateway().jvm.org.apache.flink.table.catalog.ObjectIdentifier.of(*path)
        table = t_env._j_tenv.getCatalogManager().getTable(identifier)
        options = dict(table.get().getResolvedTable().getOptions()) if table.isPresent() else {}
    except Exception:  # a view, another catalog's table: no size to tell
        return None
    return datagen_rows(options)


def datagen_rows(options: dict[str, str]) -> int | None:
    """A ``datagen`` table's rows: ``'number-of-rows'``, or the shortest ``sequence`` field's
    length where that is less; None where neither bounds it, or for another connector."""
    if options.get("connector") != "datagen":
        return None
    bounds = []
    try:
        if "number-of-rows" in options:
            bounds.append(int(options["number-of-rows"]))
        for key, kind in options.items():
            field = re.fullmatch(r"fields\.(.+)\.kind", key)
            if field and kind == "sequence":
                name = field.group(1)
                bounds.append(int(options[f"fields.{name}.end"]) - int(options[f"fields.{name}.start"]) + 1)
    except (KeyError, ValueError):  # Flink rejects such a table itself
        return None
    return max(0, min(bounds)) if bounds else None
