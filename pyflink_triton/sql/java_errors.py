"""What Flink says when a py4j call fails: the innermost Java message, or a Python worker's last line."""

from __future__ import annotations

import re

__all__ = ["internal_error", "java_message"]


def java_message(exc: BaseException) -> str:
    """The message of the innermost cause of a py4j (Flink) error, where the reason is:
    "SQL validation failed. Invalid function call:" wraps "Number of descriptor columns...".
    """
    java = getattr(exc, "java_exception", None)
    if java is not None:
        try:
            message = None
            cause = java
            while cause is not None:
                text = cause.getMessage()
                if text:
                    message = str(text)
                cause = cause.getCause()
            if message:
                return _python_error_line(message) or (
                    message.strip().splitlines()[0] if "\n\tat " in message else message.strip()
                )
        except Exception:  # the gateway may be gone: fall back to the text
            pass
    text = str(exc)
    python_line = _python_error_line(text)
    if python_line:
        return python_line
    causes: list[str] = re.findall(r"(?m)^(?:Caused by: |: )[\w.$]+: (.+)$", text)
    if causes:
        return causes[-1].strip()
    lines = [ln.strip() for ln in text.splitlines() if ln.strip()]
    return lines[0] if lines else repr(exc)


_INTERNAL = (
    "IndexOutOfBoundsException",
    "ArrayIndexOutOfBoundsException",
    "NullPointerException",
    "ClassCastException",
    "IllegalStateException",
    "AssertionError",
    "UnsupportedOperationException",
)


def internal_error(exc: BaseException) -> bool:
    """Whether Flink's innermost error is a Java runtime one (``IndexOutOfBoundsException``:
    "index (1) must be less than size (1)"), a failure inside Flink rather than its word on
    the call."""
    cause = getattr(exc, "java_exception", None)
    try:
        while cause is not None and cause.getCause() is not None:
            cause = cause.getCause()
        return cause is not None and str(cause.getClass().getSimpleName()) in _INTERNAL
    except Exception:  # the gateway may be gone
        return False


def _python_error_line(text: str) -> str | None:
    """A Python worker's traceback, as Flink relays it, reduced to its last exception line
    (``pyflink_triton.errors.TritonServiceError: Triton model 'm' at ...: ...``)."""
    if "Traceback (most recent call last)" not in text:
        return None
    for line in reversed(text.splitlines()):
        m = re.match(r"^\s*([A-Za-z_][\w.]*(?:Error|Exception|Warning)): (.+)$", line)
        if m and not m.group(1).startswith(("java.", "org.")):
            return f"{m.group(1).rsplit('.', 1)[-1]}: {m.group(2)}"
    return None
