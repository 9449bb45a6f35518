"""Request correlation: an id on every inference request, and a W3C ``traceparent`` on demand.

Ids read ``<job>-<subtask>-<batch>-<request>``: the job's name and the subtask index (set by
the UDF from PyFlink's ``FunctionContext``), the engine's batch counter and a counter of the
batch's requests. The id travels as the KServe v2 request's ``id`` (Triton echoes it in the
response and puts it in its logs and trace spans as ``request_id``) and as ``X-Request-ID`` (for
proxies and gateways in front of Triton). Retries of a request send the same id. Errors of a
request name it. It costs a string format and a counter per request, so it is always on.

With the ``tracing`` option, every request also carries ``traceparent:
00-<trace id>-<span id>-01``: one trace id per batch, one span id per request. Triton 24.01+
started with ``--trace-config mode=opentelemetry`` then traces the request as a child of that
span (it traces every request with a propagated context, whatever its trace ``rate``: hence
off by default).
"""

from __future__ import annotations

import itertools
import os
import re
from dataclasses import dataclass, field

__all__ = ["BatchTag", "RequestIds", "clean_part", "is_traceparent"]

#: What a part of an id may hold: letters, digits, '.', '_'; the rest becomes '_'.
_UNSAFE = re.compile(r"[^A-Za-z0-9._]+")
#: The longest job part kept (ids stay short in logs and headers).
MAX_JOB_CHARS = 32
_TRACEPARENT = re.compile(r"00-[0-9a-f]{32}-[0-9a-f]{16}-01")


def clean_part(text: str, limit: int = MAX_JOB_CHARS) -> str:
    """``text`` made safe for an id (and a header): unsafe runs become ``_``, at most ``limit``."""
    return _UNSAFE.sub("_", str(text)).strip("_")[:limit] or "job"


def is_traceparent(value: str) -> bool:
    """Whether ``value`` is a version-00, sampled W3C ``traceparent`` with non-zero ids."""
    return bool(_TRACEPARENT.fullmatch(value)) and "0" * 32 not in value and not value.endswith("-0000000000000000-01")


def _hex(nbytes: int) -> str:
    while True:  # the all-zero id is invalid in W3C trace context
        value = os.urandom(nbytes).hex()
        if value.strip("0"):
            return value


@dataclass
class BatchTag:
    """One batch's ids: ``<prefix>-<n>`` for its n-th request, and its trace id when tracing.

    Shared by the batch's requests (groups and chunks), so their numbers never repeat.
    """

    prefix: str
    trace_id: str | None = None
    _count: itertools.count[int] = field(default_factory=itertools.count, repr=False)

    def next_id(self) -> str:
        """The next request's id."""
        return f"{self.prefix}-{next(self._count)}"

    def headers(self, request_id: str) -> dict[str, str]:
        """``X-Request-ID``, and a ``traceparent`` with a fresh span id when tracing."""
        if self.trace_id is None:
            return {"X-Request-ID": request_id}
        return {"X-Request-ID": request_id, "traceparent": f"00-{self.trace_id}-{_hex(8)}-01"}


class RequestIds:
    """Makes the :class:`BatchTag` of each batch of one function instance (or client).

    :param job: the job's name (made safe and short; never put secrets in it).
    :param subtask: the subtask index; ``None`` for a client used on its own, which then gets
        a random part instead, so that clients of several processes do not collide.
    :param tracing: whether requests carry a ``traceparent``.
    """

    def __init__(self, job: str = "job", subtask: int | str | None = None, *, tracing: bool = False) -> None:
        part = os.urandom(3).hex() if subtask is None else clean_part(str(subtask), 12)
        self.prefix = f"{clean_part(job)}-{part}"
        self.tracing = tracing
        self._batches = itertools.count()

    def batch(self, seq: int | None = None) -> BatchTag:
        """The tag of batch ``seq`` (default: the next of this object's own counter)."""
        number = next(self._batches) if seq is None else seq
        return BatchTag(f"{self.prefix}-{number}", _hex(16) if self.tracing else None)
