"""The rule `run` and `sql` share for an unset ${TRITON_ENDPOINT} (cli/local_triton.py), without
starting anything: when a local Triton is needed, and the one line where it would not serve.
That it starts once, says its URL and stops at exit is proven end to end in test_cli.py
(`run`) and test_shell.py (`sql`)."""

from __future__ import annotations

import io

import pytest

from pyflink_triton.cli.local_triton import LocalTriton
from pyflink_triton.errors import TritonConfigError

CREATE = "CREATE MODEL m WITH ('endpoint' = '${TRITON_ENDPOINT}')"


def test_only_an_unset_endpoint_without_default_needs_the_local_triton() -> None:
    unset = LocalTriton({})
    assert unset.needed(CREATE)
    assert not unset.needed("SELECT '${TRITON_ENDPOINT:-http://elsewhere:8000}'")
    assert not unset.needed("SELECT '${OTHER:-x}'")
    # Text that does not need it is substituted without a start.
    assert unset.substitute("SELECT '${TRITON_ENDPOINT:-d}'") == "SELECT 'd'" and unset.server is None
    configured = LocalTriton({"TRITON_ENDPOINT": "http://triton:8000/v2/models"})
    assert not configured.needed(CREATE)
    assert configured.substitute(CREATE) == "CREATE MODEL m WITH ('endpoint' = 'http://triton:8000/v2/models')"


def test_where_a_local_triton_would_not_outlive_its_jobs_one_line_says_how_to_get_one() -> None:
    err = io.StringIO()
    local = LocalTriton({}, err=err, outlived_by="--detach")
    with pytest.raises(TritonConfigError) as info:
        local.substitute(CREATE)
    assert str(info.value) == (
        "TRITON_ENDPOINT is not set, and a Triton started here would stop when the command returns (--detach): "
        "export TRITON_ENDPOINT=http://HOST:8000/v2/models, or run `pyflink-triton serve` and export the URL it prints"
    )
    assert local.server is None and err.getvalue() == ""  # nothing was started, nor announced
