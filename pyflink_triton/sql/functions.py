"""ML_PREDICT's config map, and the Triton function a call over a triton model runs."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from ..config import TritonOptions, parse_bool, parse_duration
from ..engine import ERROR_FIELD, ERROR_MODES, Column, FlinkType
from ..errors import TritonConfigError
from ..flink import async_triton_udf, configure_async, default_batching, triton_udf
from ..flink.versions import flink_features, requires

__all__ = ["CONFIG_KEYS", "PredictConfig", "flink_config_error", "predict_function"]

log = logging.getLogger(__name__)

ML_PREDICT_ASYNC = "ML_PREDICT's 'async' = 'true'"
#: The keys of ML_PREDICT's config map we read (others are ignored, as Flink does).
CONFIG_KEYS = ("async", "output-mode", "max-concurrent-operations", "timeout", "error-mode")


@dataclass(frozen=True)
class PredictConfig:
    """ML_PREDICT's config map, validated."""

    max_concurrent: int | None = None  #: ``max-concurrent-operations``
    timeout: str | None = None  #: ``timeout`` as written
    timeout_s: float | None = None
    is_async: bool = False
    error_mode: str = "fail"  #: ``error-mode``: ours, ``fail`` or ``column``

    @classmethod
    def parse(cls, config: Mapping[str, str]) -> PredictConfig:
        """:raises TritonConfigError: naming the config key and the accepted values."""
        is_async = parse_bool(config.get("async", "false"), key="async")
        if is_async and not flink_features().async_scalar:
            raise TritonConfigError(
                f"{requires('async_scalar', ML_PREDICT_ASYNC)}: leave 'async' out for the batched (pandas) mode",
                option="async",
            )
        max_concurrent = None
        if "max-concurrent-operations" in config:
            value = config["max-concurrent-operations"]
            if not value.strip().lstrip("-").isdigit():
                raise TritonConfigError(
                    f"ML_PREDICT config 'max-concurrent-operations' must be a positive integer, got {value!r}"
                )
            if int(value) > 0:
                max_concurrent = int(value)
            elif is_async:  # Flink's check and text; it ignores the key in sync mode, and so do we
                raise TritonConfigError(
                    "Invalid runtime config option 'max-concurrent-operations'. "
                    f"Its value should be positive integer but was {int(value)}."
                )
        timeout = config.get("timeout")
        mode = config.get("output-mode", "ORDERED").strip().upper()
        if mode not in ("ORDERED", "ALLOW_UNORDERED"):
            raise TritonConfigError(
                f"ML_PREDICT config 'output-mode' must be ORDERED or ALLOW_UNORDERED, got {config['output-mode']!r}"
            )
        error_mode = config.get("error-mode", "fail").strip().lower()
        if error_mode not in ERROR_MODES:
            raise TritonConfigError(
                f"ML_PREDICT config 'error-mode' must be one of {', '.join(ERROR_MODES)}, got {config['error-mode']!r}",
                option="error-mode",
            )
        return cls(
            max_concurrent,
            timeout,
            None if timeout is None else parse_duration(timeout, key="timeout"),
            is_async,
            error_mode,
        )

    def output_names(self, outputs: list[str]) -> list[str]:
        """The result's fields: the model's outputs, then ``error`` in the ``column`` mode."""
        return [*outputs, ERROR_FIELD] if self.error_mode == "column" else outputs


#: The planner rule that checks ML_PREDICT's config map (``validateRuntimeConfig``): Flink 2.3's,
#: then 2.2's (stream only). Flink 2.1 has no such check (ours speak there).
_CONFIG_RULES = (
    "org.apache.flink.table.planner.plan.rules.physical.common.PhysicalMLPredictTableFunctionRule",
    "org.apache.flink.table.planner.plan.nodes.physical.stream.StreamPhysicalMLPredictTableFunctionRule",
)


def flink_config_error(t_env: Any, config: Mapping[str, str]) -> str | None:
    """Flink's own message about ML_PREDICT's config map, or None when Flink accepts it.

    Flink checks the map only while planning a call over a model it has a provider for, which
    PyFlink 2.3 never reaches for a triton model; so this runs that check, Flink's own code
    (``PhysicalMLPredictTableFunctionRule.validateRuntimeConfig``), and gives its message with
    the messages of its causes (``Failed to parse the config. Could not parse value 'yes' for
    key 'async'. ...``). None as well where this Flink has no such check: ours then speak.
    """
    if not config:
        return None
    try:
        from pyflink.java_gateway import get_gateway

        gateway = get_gateway()
        loader = t_env._j_tenv.getPlanner().getClass().getClassLoader()
        method = _config_check(gateway, loader)
        method.setAccessible(True)
        java_map = gateway.jvm.java.util.HashMap()
        for key, value in config.items():
            java_map.put(key, value)
        args = gateway.new_array(gateway.jvm.java.lang.Object, 1)
        args[0] = java_map
    except Exception as exc:  # another Flink: no such rule or method
        log.debug("Flink's ML_PREDICT config check is not available: %s", exc)
        return None
    try:
        method.invoke(None, args)
    except Exception as exc:
        cause = getattr(exc, "java_exception", None)
        cause = cause.getCause() if cause is not None else None  # InvocationTargetException's target
        messages = []
        while cause is not None:
            if cause.getMessage():
                messages.append(str(cause.getMessage()).strip())
            cause = cause.getCause()
        return " ".join(messages) or None
    return None


def _config_check(gateway: Any, loader: Any) -> Any:
    """Flink's ``validateRuntimeConfig`` method, from the first rule of :data:`_CONFIG_RULES` that has it."""
    for name in _CONFIG_RULES:
        try:
            rule = gateway.jvm.java.lang.Class.forName(name, True, loader)
        except Exception:  # not this version's rule
            continue
        for method in rule.getDeclaredMethods():
            if method.getName() == "validateRuntimeConfig":
                return method
    raise LookupError("no validateRuntimeConfig in " + ", ".join(_CONFIG_RULES))


def predict_function(
    t_env: Any,
    options: TritonOptions,
    inputs: list[tuple[str, str]],
    outputs: list[tuple[str, str]],
    config: PredictConfig,
) -> Any:
    """The UDF for one ML_PREDICT call: its declared INPUT and OUTPUT columns, its config."""
    if config.max_concurrent is not None:
        options = options.replace(max_concurrent_requests=config.max_concurrent)
    fields = tuple((n, FlinkType.parse(t)) for n, t in outputs)
    declared = [Column(n, t) for n, t in fields]
    result_type = declared[0].type if len(declared) == 1 else FlinkType("ROW", fields=fields)
    kwargs: dict[str, Any] = dict(
        result_type=result_type,
        inputs=[Column(n, FlinkType.parse(t)) for n, t in inputs],
        outputs=[c.name for c in declared],
        error_mode=config.error_mode,
    )
    # Flink's default of 1000 rows a batch (and bundle) costs most of the throughput: the
    # job gets ours unless something sets them (configure_inference, --set, the cluster).
    default_batching(t_env)
    if not config.is_async:
        return triton_udf(options, timeout=config.timeout_s, **kwargs)
    # Flink's async knobs are per job; ML_PREDICT's config sets them as Flink's own provider
    # would (rows in flight, per-row timeout), and turns PyFlink's per-row retries off: the
    # client retries whole requests itself.
    configure_async(t_env, max_concurrent_operations=config.max_concurrent or 4096, timeout=config.timeout)
    return async_triton_udf(options, **kwargs)
