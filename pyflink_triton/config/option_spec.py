"""One row of the option table (:mod:`.spec`): what a ``CREATE MODEL`` option is."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from .values import Kind, parse_value

__all__ = ["OptionSpec", "access_option"]


@dataclass(frozen=True, slots=True)
class OptionSpec:
    """One ``CREATE MODEL`` option.

    :param key: the ``WITH`` key, as Flink's Java provider spells it (``'model-name'``).
    :param attr: the :class:`TritonOptions` attribute (durations in seconds: ``timeout_s``).
    :param kind: how its text is parsed (see :func:`~.values.parse_value`).
    :param default: the default as ``WITH`` text (``'30s'``, ``'false'``); ``None``: unset.
    :param keyword: the keyword of PyFlink's ``TritonProvider``; ``None`` for our options.
    :param ours: an addition of this project, unknown to Flink's Java provider.
    :param secret: never shown in ``repr``, ``str`` or error messages.
    :param description: one line for users.
    :param example: a value users would write (``'10s'``), shown in ``docs/options.md``.
    """

    key: str
    attr: str
    kind: Kind
    default: str | None
    keyword: str | None
    ours: bool = False
    secret: bool = False
    description: str = ""
    example: str = ""

    def __post_init__(self) -> None:
        # PyFlink's TritonProvider has a keyword for exactly the Java provider's options.
        if self.ours != (self.keyword is None):
            raise ValueError(f"option {self.key!r}: 'ours' must be true exactly when keyword is None")

    @property
    def typed_default(self) -> Any:
        """The default parsed as :attr:`kind` (``'30s'`` -> ``30.0``); ``None`` when unset."""
        return None if self.default is None else parse_value(self.kind, self.default, self.key)


def access_option(key: str, example: str, description: str, *, secret: bool = False) -> OptionSpec:
    """One of our options of a credential or certificate: a string, unset by default."""
    return OptionSpec(key, key.replace("-", "_"), "string", None, None, True, secret, description, example)
