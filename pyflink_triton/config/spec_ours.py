"""The rows of the option table (:mod:`.spec`) that this project adds to Flink's Java provider's:
unknown to the Java provider and to PyFlink's ``TritonProvider`` (``ours``, no keyword)."""

from __future__ import annotations

from .option_spec import OptionSpec, access_option

__all__ = ["OUR_OPTIONS"]

OUR_OPTIONS: tuple[OptionSpec, ...] = (
    OptionSpec(
        "batch-size",
        "batch_size",
        "int",
        None,
        None,
        ours=True,
        example="256",
        description="Max rows per request (unset: the model's max_batch_size).",
    ),
    OptionSpec(
        "binary-data",
        "binary_data",
        "bool",
        "true",
        None,
        ours=True,
        example="false",
        description="Binary tensor extension; false sends JSON.",
    ),
    OptionSpec(
        "max-concurrent-requests",
        "max_concurrent_requests",
        "int",
        "4",
        None,
        ours=True,
        example="8",
        description="Requests in flight per client; also sizes the connection pool.",
    ),
    OptionSpec(
        "request-parameters",
        "request_parameters",
        "map",
        None,
        None,
        ours=True,
        example="tag:nightly",
        description="Custom request parameters (Triton parameters extension); reserved names rejected.",
    ),
    OptionSpec(
        "health-check-timeout",
        "health_check_timeout_s",
        "duration",
        "5s",
        None,
        ours=True,
        example="2s",
        description="Timeout of one health probe.",
    ),
    OptionSpec(
        "tls-verify",
        "tls_verify",
        "bool",
        "true",
        None,
        ours=True,
        example="false",
        description="Verify the server's TLS certificate.",
    ),
    OptionSpec(
        "tls-ca-file",
        "tls_ca_file",
        "string",
        None,
        None,
        ours=True,
        example="/etc/ssl/certs/triton-ca.pem",
        description="PEM file of CA certificates to trust for https endpoints.",
    ),
    OptionSpec(
        "max-response-size",
        "max_response_size",
        "size",
        "256mb",
        None,
        ours=True,
        example="64mb",
        description="Largest response body read, after decompression ('64mb', '1gb' or bytes); larger ones fail.",
    ),
    OptionSpec(
        "http-client",
        "http_client",
        "string",
        "aiohttp",
        None,
        ours=True,
        example="httptools",
        description="HTTP library of inference requests: 'aiohttp', or 'httptools' (a lean client "
        "of ours: about half the CPU per request; metadata and health checks stay on aiohttp).",
    ),
    OptionSpec(
        "tracing",
        "tracing",
        "bool",
        "false",
        None,
        ours=True,
        example="true",
        description="Send a W3C traceparent header (trace per batch) for Triton's OpenTelemetry tracing.",
    ),
    # Secrets by reference (config/secrets.py) and the client certificate: paths and names only.
    access_option(
        "auth-token-file", "/var/run/secrets/triton/token", "File of the auth token; re-read when it changes."
    ),
    access_option("auth-token-env", "TRITON_TOKEN", "Environment variable of the TaskManager holding the auth token."),
    access_option("tls-client-cert", "/var/run/secrets/triton/tls.crt", "PEM file of the client certificate (mTLS)."),
    access_option(
        "tls-client-key", "/var/run/secrets/triton/tls.key", "PEM file of its key (unset: in the cert's file)."
    ),
    access_option("tls-client-key-password", "${TRITON_KEY_PASSWORD}", "Password of an encrypted key.", secret=True),
    access_option(
        "tls-client-key-password-file", "/var/run/secrets/triton/key-password", "File of the key's password."
    ),
    access_option("tls-client-key-password-env", "TRITON_KEY_PASSWORD", "Environment variable of the key's password."),
    OptionSpec(
        "inference-api",
        "inference_api",
        "string",
        "auto",
        None,
        ours=True,
        example="generate-stream",
        description="'infer', 'generate', 'generate-stream' or 'auto' (generate-stream if decoupled, else infer).",
    ),
    OptionSpec(
        "generate-parameters",
        "generate_parameters",
        "map",
        None,
        None,
        ours=True,
        example='{"max_tokens": 16, "temperature": 0}',
        description=(
            "Fields of every generate request (max_tokens...): JSON object of scalars, or flat lists "
            "for model inputs (stop_words); reserved names refused."
        ),
    ),
)
