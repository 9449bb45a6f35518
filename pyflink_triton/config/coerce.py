"""``as_options``: the one way every layer turns what a user passes as a model into options."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Union

from .options import TritonOptions
from .provider import TritonProvider

__all__ = ["ModelLike", "as_options"]

#: What users may pass wherever a model is expected.
ModelLike = Union[TritonProvider, TritonOptions, Mapping[str, Any]]  # noqa: UP007 - a runtime alias: keep typing.Union


def as_options(model: ModelLike) -> TritonOptions:
    """Return ``model`` as validated :class:`TritonOptions`.

    :param model: a :class:`TritonOptions` (returned as is), a :class:`TritonProvider`, or a
        mapping of ``CREATE MODEL ... WITH`` options (``{'endpoint': ..., 'model-name': ...}``).
    :raises TypeError: for anything else.
    :raises TritonConfigError: when the options are invalid, naming the option at fault.
    """
    if isinstance(model, TritonOptions):
        return model
    if isinstance(model, TritonProvider):
        return model.to_triton_options()
    if isinstance(model, Mapping):
        return TritonOptions.from_map(model)
    raise TypeError(
        "model must be a TritonProvider, TritonOptions or a mapping of CREATE MODEL options, "
        f"got {type(model).__name__}"
    )
