"""TLS of both HTTP clients: the CA to trust, whether to verify, the client certificate (mTLS)
and its key's password (a secret, resolved where the client opens), and what a server's TLS
alert says about the client certificate. Builds ``ssl`` contexts only; the connections are the
transport's (``transport.py``, ``lean_http.py``)."""

from __future__ import annotations

import os
import ssl

from ..config import Secret, TritonOptions
from ..errors import TritonConfigError

__all__ = ["client_certificate_hint", "load_client_certificate", "ssl_context"]


def ssl_context(options: TritonOptions) -> ssl.SSLContext | bool:
    """The TLS setting for the pool: ``False`` (no verification), ``True`` or a context (a CA
    to trust, a client certificate to present).

    :raises TritonConfigError: ``tls-ca-file`` or the client certificate cannot be loaded.
    """
    if not options.tls_client_cert:
        if not options.tls_verify:
            return False
        if not options.tls_ca_file:
            return True
    try:
        context = ssl.create_default_context(cafile=options.tls_ca_file or None)
    except (OSError, ssl.SSLError) as exc:
        raise TritonConfigError(
            f"Option 'tls-ca-file': cannot load {options.tls_ca_file!r}: {exc}",
            option="tls-ca-file",
        ) from None
    if not options.tls_verify:
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    if options.tls_client_cert:
        load_client_certificate(context, options)
    return context


def load_client_certificate(context: ssl.SSLContext, options: TritonOptions) -> None:
    """Load ``tls-client-cert`` / ``tls-client-key`` into ``context``, decrypting the key with
    ``tls-client-key-password`` (any of its forms).

    :raises TritonConfigError: a file cannot be read, or the key does not match or decrypt;
        naming the option, never the password.
    """
    cert, key = options.tls_client_cert, options.tls_client_key
    for option, path in (("tls-client-cert", cert), ("tls-client-key", key)):
        if path and not os.access(path, os.R_OK):
            raise TritonConfigError(f"Option '{option}': cannot read {path!r}", option=option)
    password = Secret.of(options, "tls-client-key-password")
    # Always a callable: without one, OpenSSL would ask for an encrypted key's password on
    # the terminal, and hang a worker that has none.
    try:
        context.load_cert_chain(cert or "", key or None, password=lambda: password.get() or "")
    except ssl.SSLError as exc:
        hint = (
            "a wrong 'tls-client-key-password'?"
            if password.configured
            else "an encrypted key needs 'tls-client-key-password'; or the key is not the certificate's"
        )
        raise TritonConfigError(
            f"Option 'tls-client-cert': cannot load the client certificate {cert!r} with key "
            f"{key or cert!r}: {exc.reason or exc} ({hint})",
            option="tls-client-cert",
        ) from None


#: TLS alerts a server sends about the client's certificate (OpenSSL's names): none was given,
#: or the one given was not accepted.
_CERTIFICATE_REQUIRED = ("CERTIFICATE_REQUIRED",)
_CERTIFICATE_REFUSED = (
    "BAD_CERTIFICATE",
    "UNKNOWN_CA",
    "CERTIFICATE_UNKNOWN",
    "CERTIFICATE_EXPIRED",
    "CERTIFICATE_REVOKED",
    "UNSUPPORTED_CERTIFICATE",
    "ACCESS_DENIED",
)


def client_certificate_hint(text: str, options: TritonOptions) -> str:
    """What a TLS alert in ``text`` says about the client certificate (mTLS), or ``""``.

    An mTLS gateway (Envoy, a service mesh, OpenSSL-based servers) answers a missing or untrusted
    client certificate with an alert, which OpenSSL reports by name ("tlsv13 alert certificate
    required"); said here in the options' terms.
    """
    upper = text.upper().replace(" ", "_")
    if "ALERT" not in upper:
        return ""
    refused = any(name in upper for name in _CERTIFICATE_REFUSED)
    if any(name in upper for name in _CERTIFICATE_REQUIRED) or (refused and not options.tls_client_cert):
        return (
            " (the server requires a client certificate and no client certificate was given: "
            "set options 'tls-client-cert' and 'tls-client-key')"
        )
    if refused:
        return (
            f" (the server refused the client certificate of option 'tls-client-cert' "
            f"({options.tls_client_cert!r}): it must be signed by a CA the server trusts, and be valid now)"
        )
    return ""
