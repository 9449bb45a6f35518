"""The Triton endpoint as users write it, parsed once into the URLs the client needs.

Users write ``http://h:8000``, ``http://h:8000/v2``, ``http://h:8000/v2/models`` (Flink's
docs), with or without a trailing slash, sometimes behind a proxy prefix
(``https://gw/triton/v2/models``) and sometimes with ``user:password@`` in it.
Everything from the ``/v2`` *path segment* on is protocol, not endpoint: it is cut at a
segment boundary, so a host named ``triton-v2.example.com`` is never mistaken for it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from urllib.parse import quote, urlsplit, urlunsplit

from ..errors import TritonConfigError

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
        """Parse a user-written endpoint; raise :class:`TritonConfigError` naming ``option``."""
        if not isinstance(url, str) or not url.strip():
            raise TritonConfigError(
                f"Option '{option}' must be an http(s) URL such as 'http://localhost:8000', "
                "got an empty value.",
                option=option,
            )
        try:
            parts = urlsplit(url.strip())
            port = parts.port  # raises ValueError on a bad port
        except ValueError as exc:
            raise TritonConfigError(
                f"Option '{option}' is not a valid URL ({exc}): {_redact_raw(url)}", option=option
            ) from None
        if parts.scheme.lower() not in ("http", "https") or not parts.hostname:
            raise TritonConfigError(
                f"Option '{option}' must be an http:// or https:// URL with a host, such as "
                f"'http://localhost:8000/v2/models', got {_redact_raw(url)!r}.",
                option=option,
            )
        if parts.query or parts.fragment:
            raise TritonConfigError(
                f"Option '{option}' must not contain a query string or fragment: "
                f"{_redact_raw(url)!r}.",
                option=option,
            )
        segments = [s for s in parts.path.split("/") if s]
        if "v2" in segments:
            segments = segments[: segments.index("v2")]
        host = parts.hostname
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


def _redact_raw(url: str) -> str:
    """Strip ``user:password@`` from a URL we could not parse, for error messages."""
    scheme, sep, rest = url.partition("://")
    if not sep:
        return url if "@" not in url else "<redacted>"
    authority, slash, tail = rest.partition("/")
    if "@" in authority:
        authority = authority.rsplit("@", 1)[1]
    return f"{scheme}://{authority}{slash}{tail}"
