"""Planning on whichever JVM thread py4j hands a call to (FLINK-23020).

Calcite keeps the metadata providers that planning needs in a Java ``ThreadLocal``
(``RelMetadataQueryBase.THREAD_PROVIDERS``), which Flink's planner fills once, on the JVM thread
that created the ``TableEnvironment``. py4j serves Python's calls on a pool of connections, one
JVM thread each, taken last-in first-out. A call from a second Python thread while another call
is in flight opens a new connection (py4j's own garbage-collection messages, sent from whatever
Python thread drops a ``JavaObject``, are enough), and when that connection is given back last,
the main thread's next calls run on the new JVM thread. Planning there fails with
``NullPointerException: metadataHandlerProvider``, and worse, the planner's ``RelOptCluster``
keeps the broken metadata query it made: from then on every planning call of the session fails,
on any thread. Flink's fix (apache/flink#20655) was never merged, so :class:`PlannerThreads`
fills the ``ThreadLocal`` of the thread that serves our statements and drops a metadata query
the cluster may have cached broken (a call of the user's own can break the session first), before
each statement, and runs a statement again when it meets the error anyway (a connection switched
under it).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any, TypeVar

from ..flink.versions import patch_applies

__all__ = ["PlannerThreads", "is_missing_providers"]

log = logging.getLogger(__name__)
T = TypeVar("T")

_QUERY_BASE = "org.apache.calcite.rel.metadata.RelMetadataQueryBase"
_JANINO = "org.apache.calcite.rel.metadata.JaninoRelMetadataProvider"
_FLINK_PROVIDER = "org.apache.flink.table.planner.plan.metadata.FlinkDefaultRelMetadataProvider"
_SYMPTOM = "metadataHandlerProvider"
#: A switch can only happen while another Python thread is in a call: one retry is what the
#: race needs, a second covers two switches in a row.
_ATTEMPTS = 3


def is_missing_providers(exc: BaseException) -> bool:
    """Whether ``exc`` (or what caused it) is Calcite's NPE of a thread without providers."""
    seen: BaseException | None = exc
    for _ in range(8):  # causes chain; bounded, as a cycle is possible
        if seen is None:
            return False
        if _SYMPTOM in str(seen):
            return True
        seen = seen.__cause__ or seen.__context__
    return False


class PlannerThreads:
    """Makes a ``TableEnvironment``'s planning work on the JVM thread serving the current call."""

    def __init__(self, t_env: Any) -> None:
        self._t_env = t_env
        self._slot: tuple[Any, Any, Any] | None = None  # (ThreadLocal, the providers it must hold, cluster)
        self._unavailable = False

    def prepare(self) -> None:
        """Give the serving JVM thread Flink's metadata providers, and the planner a fresh metadata
        query (two py4j calls once set up: nothing next to planning)."""
        slot = self._lookup()
        if slot is not None:
            slot[0].set(slot[1])
            slot[2].invalidateMetadataQuery()

    def run(self, call: Callable[[], T]) -> T:
        """``call()`` (one statement's py4j calls) with the serving thread prepared."""
        for attempt in range(1, _ATTEMPTS + 1):
            self.prepare()
            try:
                return call()
            except Exception as exc:
                if attempt == _ATTEMPTS or self._unavailable or not is_missing_providers(exc):
                    raise
                log.debug("planning met a JVM thread without metadata providers; retrying (%d)", attempt)
        raise AssertionError("unreachable")

    def _lookup(self) -> tuple[Any, Any, Any] | None:
        if self._slot is None and not self._unavailable and not patch_applies("planner-thread"):
            self._unavailable = True  # a Flink whose planner internals this was not written for
        if self._slot is None and not self._unavailable:
            try:
                self._slot = _providers_slot(self._t_env)
            except Exception as exc:  # another Flink or Calcite: nothing to do here
                log.debug("Calcite's THREAD_PROVIDERS cannot be reached: %s", exc)
                self._unavailable = True
        return self._slot


def _providers_slot(t_env: Any) -> tuple[Any, Any, Any]:
    """Calcite's ``THREAD_PROVIDERS``, the value Flink's planner puts there (by reflection: both
    live in the planner's own class loader, out of py4j's reach by name) and the planner's cluster."""
    from pyflink.java_gateway import get_gateway

    gateway = get_gateway()
    planner = t_env._j_tenv.getPlanner()
    loader = planner.getClass().getClassLoader()

    def load(name: str) -> Any:
        return gateway.jvm.java.lang.Class.forName(name, True, loader)

    no_args = gateway.new_array(gateway.jvm.java.lang.Object, 0)
    flink_provider = (
        load(_FLINK_PROVIDER)
        .getMethod("INSTANCE", gateway.new_array(gateway.jvm.java.lang.Class, 0))
        .invoke(None, no_args)
    )
    of = next(m for m in load(_JANINO).getMethods() if m.getName() == "of" and len(m.getParameterTypes()) == 1)
    args = gateway.new_array(gateway.jvm.java.lang.Object, 1)
    args[0] = flink_provider
    # JaninoRelMetadataProvider.of caches by provider: this is the very object the planner set.
    providers = of.invoke(None, args)
    thread_local = load(_QUERY_BASE).getField("THREAD_PROVIDERS").get(None)
    return thread_local, providers, planner.plannerContext().getCluster()
