"""Credentials out of every text that comes from the server or from aiohttp.

A server may quote our request back (a 401 body echoing the ``Authorization`` header, a proxy
page showing the request), and aiohttp's exception texts may quote URLs and headers. Every
such text goes through :class:`Redactor` before it becomes part of one of our errors or logs:
the client's one redaction function, built once per client from its options.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterable
from urllib.parse import quote, unquote

from ..config import TritonOptions, is_secret_header

__all__ = ["REDACTED", "Redactor", "secrets_of"]

REDACTED = "<redacted>"

#: Shortened texts end in '...'; a secret cut there shows its start. Starts of at least this
#: many characters are taken out too (shorter ones would take out ordinary words).
_MIN_CUT_PREFIX = 4


def secrets_of(options: TritonOptions) -> tuple[str, ...]:
    """Every form in which the options' credentials may come back in a text.

    The auth token (without its ``Bearer`` prefix), the endpoint's basic-auth
    password (as written and percent-decoded), the base64 ``user:password`` credential of the
    ``Authorization: Basic`` header, and the values of credential-like custom headers; each
    also JSON-escaped and percent-encoded. Longest first, so no secret is half replaced.
    """
    found: list[str] = []
    token = options.auth_token
    if token:
        # The token without its 'Bearer ' prefix: every form it is sent or echoed in holds it.
        found.append(token[7:].strip() if token.lower().startswith("bearer ") else token)
    endpoint = options.parsed_endpoint
    if endpoint.password:
        found += [endpoint.password, unquote(endpoint.password)]
    if endpoint.username is not None:
        for password in {endpoint.password or "", unquote(endpoint.password or "")}:
            pair = f"{endpoint.username}:{password}".encode()
            found.append(base64.b64encode(pair).decode("ascii"))
    found += [v for k, v in options.custom_headers.items() if is_secret_header(k)]
    return _variants(found)


def _variants(secrets: Iterable[str]) -> tuple[str, ...]:
    forms: set[str] = set()
    for secret in secrets:
        if secret:
            forms.update((secret, json.dumps(secret)[1:-1], quote(secret, safe="")))
    forms.discard("")
    return tuple(sorted(forms, key=len, reverse=True))


class Redactor:
    """``redactor(text)``: ``text`` with every credential of ``options`` replaced by
    ``<redacted>``.

    :param options: whose credentials to take out (see :func:`secrets_of`).
    """

    def __init__(self, options: TritonOptions) -> None:
        self.secrets = secrets_of(options)

    def add(self, secret: str) -> None:
        """Take ``secret`` out too (a token resolved from a file or variable, a password);
        earlier ones stay taken out, as a server may echo an old token."""
        token = secret[7:].strip() if secret.lower().startswith("bearer ") else secret
        self.secrets = _variants((*self.secrets, secret, token))

    def __call__(self, text: str) -> str:
        secrets = self.secrets
        if not secrets or not text:
            return text
        for secret in secrets:
            if secret in text:
                text = text.replace(secret, REDACTED)
        if "..." in text:
            # A text shortened in the middle of a secret: '... Bearer tok-S3C...'.
            for secret in secrets:
                for cut in range(len(secret) - 1, _MIN_CUT_PREFIX - 1, -1):
                    start = secret[:cut] + "..."
                    if start in text:
                        text = text.replace(start, REDACTED + "...")
                        break
        return text
