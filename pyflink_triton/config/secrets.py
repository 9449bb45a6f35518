"""Secret options, kept as references until the client opens.

A secret (the auth token, a client key's password) is given one of three ways, each a ``WITH``
option of the model:

- the option itself (``'auth-token'``): the text as written, where ``${VAR}`` and
  ``${VAR:-default}`` are references to the environment of the process that opens the client
  (the TaskManager's Python worker), expanded there, not by the CLI;
- ``<option>-file``: a file whose content (trimmed) is the secret, e.g. a Kubernetes ``Secret``
  mounted as a volume; re-read when it changes (a ``stat`` at most every :data:`RECHECK_S`);
- ``<option>-env``: the name of an environment variable of that process.

So the options, as stored in a catalog, printed by ``SHOW CREATE MODEL`` or serialized into a
job, hold the reference (``${TRITON_TOKEN}``, a path, a name), never the value; :class:`Secret`
resolves it where the client opens.
"""

from __future__ import annotations

import os
import re
import time
from collections.abc import Callable, Mapping
from typing import Any

from ..errors import TritonConfigError
from .text import check_no_control

__all__ = ["ENV_NAME", "RECHECK_S", "SECRET_FORMS", "VARIABLE", "Secret", "expand_references"]

#: ``${VAR}`` or ``${VAR:-default}``: the one syntax of variables, in SQL text and in secrets.
VARIABLE = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")
#: What an ``<option>-env`` names.
ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")
#: Secret option -> its file and environment-variable forms.
SECRET_FORMS: dict[str, tuple[str, str]] = {
    "auth-token": ("auth-token-file", "auth-token-env"),
    "tls-client-key-password": ("tls-client-key-password-file", "tls-client-key-password-env"),
}
#: Seconds between two checks of a secret file for a change (a stat, per request at most).
RECHECK_S = 1.0
#: The most bytes of a secret file read: a token or a password, not a data file.
MAX_SECRET_FILE = 64 * 1024


def expand_references(text: str, env: Mapping[str, str], option: str) -> str:
    """``text`` with ``${VAR}`` / ``${VAR:-default}`` taken from ``env``.

    :raises TritonConfigError: a variable without default is not set (named, never a value).
    """

    def replace(m: re.Match[str]) -> str:
        name, default = m.group(1), m.group(2)
        if name in env:
            return env[name]
        if default is not None:
            return default
        raise TritonConfigError(
            f"Option '{option}' refers to ${{{name}}}, which is not set in the environment of the "
            "process that calls Triton (a TaskManager's Python worker): set it there, or use "
            f"'{SECRET_FORMS.get(option, (option + '-file',))[0]}' with a mounted file",
            option=option,
        )

    return VARIABLE.sub(replace, text)


class Secret:
    """One secret of a model's options, resolved by :meth:`get` (cheap after the first call).

    :param option: the secret option's key (``'auth-token'``), for messages.
    :param text: its value as written (``${VAR}`` references expanded at :meth:`get`).
    :param file: the ``-file`` form's path.
    :param env_name: the ``-env`` form's variable name.
    """

    def __init__(
        self,
        option: str,
        text: str | None = None,
        file: str | None = None,
        env_name: str | None = None,
        *,
        environ: Mapping[str, str] | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.option = option
        self._text, self._file, self._env_name = text, file, env_name
        # os.environ is looked up at get(), never kept: a pickled Secret (in a job's function)
        # must not carry the environment of the process that defined it.
        self._environ_override = environ
        self._clock = clock
        self._value: str | None = None  # the resolved secret, cached (a file's: until it changes)
        self._stat: tuple[int, int, int] | None = None
        self._checked_at = -float("inf")

    @classmethod
    def of(cls, options: Any, option: str, **kwargs: Any) -> Secret:
        """The secret ``option`` of ``options`` (a :class:`TritonOptions`), all three forms."""
        file_key, env_key = SECRET_FORMS[option]
        attr = option.replace("-", "_")
        return cls(
            option,
            getattr(options, attr),
            getattr(options, file_key.replace("-", "_")),
            getattr(options, env_key.replace("-", "_")),
            **kwargs,
        )

    @property
    def configured(self) -> bool:
        """Whether any form is given."""
        return bool(self._text or self._file or self._env_name)

    def get(self) -> str | None:
        """The secret now; ``None`` when no form is given.

        :raises TritonConfigError: the variable is not set, the file cannot be read or is empty.
        """
        environ = os.environ if self._environ_override is None else self._environ_override
        if self._file:
            return self._from_file(self._file)
        if self._value is not None:
            return self._value  # a variable's value, resolved once: a process's environment stays
        self._value = self._resolve(environ)
        return self._value

    def _resolve(self, environ: Mapping[str, str]) -> str | None:
        if self._env_name:
            value = environ.get(self._env_name)
            if not value or not value.strip():
                key = SECRET_FORMS[self.option][1]
                raise TritonConfigError(
                    f"Option '{key}': the environment variable {self._env_name} is not set (or empty) "
                    "in the process that calls Triton (a TaskManager's Python worker)",
                    option=key,
                )
            return self._checked(value.strip(), SECRET_FORMS[self.option][1])
        if self._text:
            value = expand_references(self._text, environ, self.option).strip()
            if not value:
                raise TritonConfigError(
                    f"Option '{self.option}': {self._text!r} is empty in the process that calls Triton",
                    option=self.option,
                )
            return self._checked(value, self.option)
        return None

    def _from_file(self, path: str) -> str:
        now = self._clock()
        if self._value is not None and now - self._checked_at < RECHECK_S:
            return self._value
        self._checked_at = now
        key = SECRET_FORMS[self.option][0]
        try:
            st = os.stat(path)  # follows the symlinks a Kubernetes Secret volume swaps on update
            stamp = (st.st_mtime_ns, st.st_size, st.st_ino)
            if self._value is not None and stamp == self._stat:
                return self._value
            with open(path, "rb") as f:
                raw = f.read(MAX_SECRET_FILE + 1)
        except OSError as exc:
            raise TritonConfigError(
                f"Option '{key}': cannot read {path!r}: {exc.strerror or type(exc).__name__}", option=key
            ) from None
        if len(raw) > MAX_SECRET_FILE:
            raise TritonConfigError(f"Option '{key}': {path!r} is larger than {MAX_SECRET_FILE} bytes", option=key)
        value = raw.decode("utf-8", errors="replace").strip()
        if not value:
            raise TritonConfigError(f"Option '{key}': {path!r} is empty", option=key)
        self._value, self._stat = self._checked(value, key), stamp
        return self._value

    @staticmethod
    def _checked(value: str, key: str) -> str:
        check_no_control(value, key, accepted="a secret on one line")
        return value
