"""Text that ends up in a request line, a header or a URL: no control characters.

A NUL, DEL, U+0085 or U+2028 in a header value, token, sequence id, model name or endpoint is
never what a user meant (usually a stray byte of a pasted value or a variable), and each would
fail later as a bare ``ValueError`` deep inside the HTTP library, or go on the wire. They are
rejected when the options are validated, naming the option (and the header or parameter) and
the position, never the value, which may be a secret.
"""

from __future__ import annotations

import re

from ..errors import TritonConfigError

__all__ = ["CONTROL_CHARACTERS", "check_no_control"]

#: C0 controls (tab, CR and LF among them), DEL, C1 controls (U+0085 NEL among them) and the
#: Unicode line and paragraph separators.
CONTROL_CHARACTERS = "U+0000-U+001F, U+007F-U+009F, U+2028, U+2029"
_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029]")


def check_no_control(text: str, key: str, *, accepted: str, where: str = "") -> None:
    """Raise :class:`TritonConfigError` naming ``key`` when ``text`` has a control character.

    :param accepted: what the option takes, e.g. ``'a model name'``.
    :param where: which part of the option, e.g. ``" (header 'X-Trace')"``.
    """
    match = _CONTROL.search(text)
    if match is None:
        return
    raise TritonConfigError(
        f"Invalid value for option '{key}'{where}: it contains a control character or line "
        f"break (U+{ord(match.group()):04X} at position {match.start()}). Accepted: {accepted} "
        f"without control characters ({CONTROL_CHARACTERS}).",
        option=key,
    )
