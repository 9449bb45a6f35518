"""A tiny deterministic LLM for the generate extension (see config.pbtxt for the rules).

``answer_words(prompt, max_tokens, stop)`` is the whole generation rule; tests compute expected
answers from the documented rule independently.
"""

from __future__ import annotations

import json
import time

import numpy as np

try:  # Only the Triton stub provides this module; tests import this file without it.
    import triton_python_backend_utils as pb_utils
except ImportError:  # pragma: no cover - outside Triton
    pb_utils = None

DEFAULT_MAX_TOKENS = 16
INT_PARAMETERS = ("max_tokens", "delay_ms", "fail_at")


def answer_words(prompt: str, max_tokens: int, stop: str | None, bad_words: frozenset[str] = frozenset()) -> list[str]:
    """The prompt's words but ``bad_words`` in reverse order, repeated, ``max_tokens`` long, cut
    before ``stop``."""
    words = [word for word in prompt.split()[::-1] if word not in bad_words]
    if not words:
        return []
    answer = []
    for i in range(max_tokens):
        word = words[i % len(words)]
        if stop is not None and word == stop:
            break
        answer.append(word)
    return answer


def pieces(words: list[str]) -> list[str]:
    """Deltas whose concatenation is the words joined by single spaces."""
    return [word if i == 0 else " " + word for i, word in enumerate(words)]


def _parameters(request) -> dict:
    raw = json.loads(request.parameters() or "{}")
    parameters = {}
    for name in INT_PARAMETERS:
        if name in raw:
            value = raw[name]
            if isinstance(value, bool) or not isinstance(value, int | str):
                raise ValueError(f"parameter {name!r} must be an integer, got {value!r}")
            try:
                parameters[name] = int(value)
            except ValueError:
                raise ValueError(f"parameter {name!r} must be an integer, got {value!r}") from None
            if parameters[name] < 0:
                raise ValueError(f"parameter {name!r} must be >= 0, got {value!r}")
    if "stop" in raw:
        if not isinstance(raw["stop"], str):
            raise ValueError(f"parameter 'stop' must be a string, got {raw['stop']!r}")
        parameters["stop"] = raw["stop"]
    return parameters


def _flag(request, name: str, default: bool) -> bool:
    tensor = pb_utils.get_input_tensor_by_name(request, name)
    return default if tensor is None else bool(tensor.as_numpy().reshape(-1)[0])


def _words(request, name: str) -> frozenset[str]:
    tensor = pb_utils.get_input_tensor_by_name(request, name)
    return frozenset() if tensor is None else frozenset(_text(v) for v in tensor.as_numpy().reshape(-1))


def _text(value) -> str:
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)


def _response(text: str):
    output = pb_utils.Tensor("text_output", np.array([text.encode("utf-8")], dtype=np.object_))
    return pb_utils.InferenceResponse(output_tensors=[output])


def _error(message: str, code=None):
    error = pb_utils.TritonError(message) if code is None else pb_utils.TritonError(message, code)
    return pb_utils.InferenceResponse(error=error)


class TritonPythonModel:
    """text_input -> text_output, streamed word by word when ``stream`` is true."""

    def execute(self, requests):
        for request in requests:
            sender = request.get_response_sender()
            try:
                self._generate(request, sender)
            except ValueError as exc:
                sender.send(
                    _error(f"tiny-llm: {exc}", pb_utils.TritonError.INVALID_ARG),
                    flags=pb_utils.TRITONSERVER_RESPONSE_COMPLETE_FINAL,
                )
        return None

    def _generate(self, request, sender) -> None:
        final = pb_utils.TRITONSERVER_RESPONSE_COMPLETE_FINAL
        parameters = _parameters(request)
        prompt = _text(pb_utils.get_input_tensor_by_name(request, "text_input").as_numpy().reshape(-1)[0])
        max_tokens = parameters.get("max_tokens", DEFAULT_MAX_TOKENS)
        words = answer_words(prompt, max_tokens, parameters.get("stop"), _words(request, "bad_words"))
        deltas = pieces(words)
        if not _flag(request, "exclude_input_in_output", True):
            deltas = [prompt + (" " if deltas else ""), *deltas]
        if not _flag(request, "stream", False):
            deltas = ["".join(deltas)]  # one response with the whole text, as /generate needs
        delay_s = parameters.get("delay_ms", 0) / 1000.0
        fail_at = parameters.get("fail_at")
        for i, delta in enumerate(deltas):
            if sender.is_cancelled():  # the client went away: stop generating (FINAL is still required)
                sender.send(flags=final)
                return
            if delay_s:
                time.sleep(delay_s)
            if fail_at is not None and i >= fail_at:
                sender.send(_error(f"tiny-llm: failing at piece {i} as asked (fail_at)"), flags=final)
                return
            sender.send(_response(delta), flags=final if i == len(deltas) - 1 else 0)
        if not deltas:
            sender.send(flags=final)
