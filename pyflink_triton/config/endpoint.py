"""The Triton endpoint as users write it, parsed once into the URLs the client needs.

Users write ``http://h:8000``, ``http://h:8000/v2``, ``http://h:8000/v2/models`` (Flink's
docs), with or without a trailing slash, sometimes behind a proxy prefix
(``https://gw/triton/v2/models``) and sometimes with ``user:password@`` in it.
Everything from the ``/v2`` *path segment* on is protocol, not endpoint: it is cut at a
segment boundary, so a host named ``triton-v2.example.com`` is never mistaken for it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from urllib.parse import SplitResult, quote, urlsplit, urlunsplit

from ..errors import TritonConfigError
from .text import check_no_control

__all__ = ["Endpoint"]


@dataclass(frozen=True, slots=True)
class Endpoint:
    """A parsed Triton HTTP endpoint.

    :param base_url: scheme, host, port and any proxy prefix, without credentials or ``/v2``.
    :param username: user name from the URL, if any (for HTTP basic auth).
    :param password: password from the URL, if any; never shown in ``repr``.
    """

    base_url: str
    username: str | None = None
    password: str | None = field(default=None, repr=False)

    @classmethod
    def parse(cls, url: str, *, option: str = "endpoint") -> Endpoint:
        """Parse a user-written endpoint; raise :class:`TritonConfigError` naming ``option``.

        No message ever shows the ``user:password@`` part, however the URL is malformed.
        """
        if not isinstance(url, str) or not url.strip():
            raise TritonConfigError(
                f"Option '{option}' must be an http(s) URL such as 'http://localhost:8000', got an empty value.",
                option=option,
            )
        check_no_control(url.strip(), option, accepted="an http(s) URL")
        parts, port = _split(url, option)
        segments = [s for s in parts.path.split("/") if s]
        if "v2" in segments:
            segments = segments[: segments.index("v2")]
        host = parts.hostname or ""
        if ":" in host:  # IPv6 literal
            host = f"[{host}]"
        netloc = host if port is None else f"{host}:{port}"
        path = "/" + "/".join(segments) if segments else ""
        base = urlunsplit((parts.scheme.lower(), netloc, path, "", ""))
        return cls(base_url=base, username=parts.username, password=parts.password)

    @property
    def v2_url(self) -> str:
        """``{base}/v2``: the root of every KServe v2 path."""
        return f"{self.base_url}/v2"

    def model_url(self, model: str, version: str | None = None) -> str:
        """``{base}/v2/models/{model}[/versions/{v}]``; ``latest`` or empty means no version."""
        url = f"{self.v2_url}/models/{quote(model, safe='')}"
        if version and version != "latest":
            url += f"/versions/{quote(version, safe='')}"
        return url

    def health_url(self, which: str) -> str:
        """``{base}/v2/health/live`` or ``.../ready``."""
        return f"{self.v2_url}/health/{which}"

    def __str__(self) -> str:
        # The redacted form: safe for logs and error messages.
        return self.base_url


def _split(url: str, option: str) -> tuple[SplitResult, int | None]:
    """``urlsplit`` and the port, every way the URL can be wrong reported without credentials."""
    try:
        parts = urlsplit(url.strip())
        port = parts.port  # raises ValueError on a bad port
    except ValueError as exc:
        raise TritonConfigError(
            f"Option '{option}' is not a valid URL ({_reason(exc)}): {_redact_raw(url)!r}. "
            "Accepted: an http(s) URL such as 'http://localhost:8000/v2/models'.",
            option=option,
        ) from None
    if parts.scheme.lower() not in ("http", "https") or not parts.hostname:
        problem = "must be an http:// or https:// URL with a host"
    elif parts.query or parts.fragment:
        problem = "must not contain a query string or fragment"
    elif "@" in parts.path:
        # A password with '/', '#' or '?' in it ends the user:password@ part early: what
        # follows is taken for a host, a path or a fragment. Percent-encoded, it parses.
        problem = (
            "has an '@' after its host: percent-encode '/', '#', '?' and '@' in a "
            "user name or password (%2F, %23, %3F, %40)"
        )
    else:
        return parts, port
    raise TritonConfigError(
        f"Option '{option}' {problem}, got {_redact_raw(url)!r}. Accepted: an http(s) URL "
        "such as 'http://localhost:8000/v2/models'.",
        option=option,
    )


def _reason(exc: ValueError) -> str:
    # urllib's own messages quote parts of the authority, which may be a piece of a password
    # (cut at a '/', '#' or '?' in it): say what is wrong in our words instead.
    text = str(exc)
    if "IPv" in text:
        return "a malformed IPv6 address in brackets"
    if "ort" in text:  # "Port could not be cast...", "Port out of range 0-65535"
        return "the port is not a number in 0-65535"
    return "characters that are not allowed in a host"


_SCHEME = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*")


def _redact_raw(url: str) -> str:
    """``url`` with everything before the last ``@`` but the scheme replaced, for messages.

    The last ``@`` ends any ``user:password@`` part, whatever delimiters the password holds
    (``urlsplit`` cuts it at the first ``/``, ``#`` or ``?``), so nothing of it survives.
    """
    if "@" not in url:
        return url
    head, _, tail = url.rpartition("@")
    scheme, sep, _ = head.partition("://")
    if sep and _SCHEME.fullmatch(scheme.strip()):
        return f"{scheme}://<redacted>@{tail}"
    return f"<redacted>@{tail}"
