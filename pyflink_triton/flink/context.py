"""What a UDF learns from PyFlink's ``FunctionContext`` to name its requests: job and subtask."""

from __future__ import annotations

import logging
from typing import Any

from ..client.correlation import RequestIds
from ..config import TritonOptions

__all__ = ["JOB_PARAMETER", "request_ids"]

log = logging.getLogger(__name__)

#: The global job parameter (``pipeline.global-job-parameters``) that names the job in request
#: ids; ``pyflink_triton.job`` sets it to the script's name.
JOB_PARAMETER = "pyflink-triton.job"


def request_ids(context: Any, options: TritonOptions) -> RequestIds:
    """Request ids ``<job>-<subtask>-<batch>-<request>`` for the function ``context`` opens.

    The job is :data:`JOB_PARAMETER` when set, else ``flink``; the subtask is PyFlink's
    subtask index (PyFlink 2.3+), else a random part.
    """
    job, subtask = "flink", None
    try:
        job = context.get_job_parameter(JOB_PARAMETER, job) or job
        subtask = context.get_index_of_this_subtask()
    except Exception:  # an older PyFlink or a context without them: ids stay unique anyway
        log.debug("FunctionContext without job parameters or subtask index", exc_info=True)
    return RequestIds(job, subtask, tracing=options.tracing)
