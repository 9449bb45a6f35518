"""The ``triton`` metric group as a real Prometheus sees it, the Grafana dashboard's queries and the
alerting rules, on one standalone cluster started from the ``apache-flink`` wheel.

The module's one :class:`Stack`: a cluster with Flink's Prometheus reporter (the wheel's
``plugins/metrics-prometheus``), a Prometheus (Debian's package) running ``deploy/prometheus/``'s
``prometheus.yml`` and rules as deployed, with targets of the test's own (the JobManager's and
the TaskManager's reporter ports, scraped every second), and two unbounded jobs submitted with
``pyflink-triton run --detach`` reading the same :data:`ROWS` rows from a watched folder:

- ``predictions``: ``ML_PREDICT`` on the ``classifier`` model of the session's Triton;
- ``fallbacks``: ``ML_PREDICT`` on an echo model of a fault server answering every request with
  503, with retries, a circuit breaker and ``'default-value' = 'null'``: failures, retries, an
  open breaker, rejections and a default value for every row, each counted exactly where the
  fault server's record of requests allows.

The jobs keep running (their source watches the folder), so their metrics stay scrapable; the
fixture polls Prometheus until every count has reached its final value, and the jobs are
cancelled at the end. The reporter listens on every interface (it has no host option): the one
server in our tests not bound to 127.0.0.1, on a free port, for the minute the module runs.
"""

from __future__ import annotations

import csv
import json
import math
import re
import shutil
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml

from pyflink_triton.engine import LoopThread
from pyflink_triton.flink.metrics import LATENCY_BUCKET_LABELS, METRICS, PROMETHEUS_SCOPE

from .conftest import free_port, poll
from .faultserver import FaultServer
from .flinkcluster import FlinkCluster, HiddenPackagesPython
from .prometheus_server import PrometheusServer, require_binary
from .test_fault_matrix import features

ROOT = Path(__file__).resolve().parent.parent
DEPLOY = ROOT / "deploy" / "prometheus"
DASHBOARD = ROOT / "deploy" / "grafana" / "triton.json"
ROWS = 240
P = PROMETHEUS_SCOPE + "_"

JOBS_SQL = """
CREATE TEMPORARY TABLE flowers (id BIGINT, f0 FLOAT, f1 FLOAT, f2 FLOAT, f3 FLOAT) WITH (
  'connector' = 'filesystem', 'path' = '{input}', 'format' = 'csv', 'source.monitor-interval' = '1s');
CREATE TEMPORARY VIEW measured AS SELECT id, ARRAY[f0, f1, f2, f3] AS features FROM flowers;
CREATE TEMPORARY VIEW measured_x AS SELECT id, ARRAY[f0, f1, f2, f3] AS x FROM flowers;
CREATE TEMPORARY MODEL iris INPUT (features ARRAY<FLOAT>) OUTPUT (class_id BIGINT) WITH (
  'provider' = 'triton', 'endpoint' = '${{TRITON_ENDPOINT}}', 'model-name' = 'classifier', 'batch-size' = '16');
CREATE TEMPORARY MODEL flaky INPUT (x ARRAY<FLOAT>) OUTPUT (OUT_x ARRAY<FLOAT>) WITH (
  'provider' = 'triton', 'endpoint' = '${{FAULT_ENDPOINT}}', 'model-name' = 'm', 'batch-size' = '4',
  'max-retries' = '2', 'retry-initial-backoff' = '10ms', 'retry-max-backoff' = '10ms',
  'circuit-breaker-enabled' = 'true', 'circuit-breaker-failure-threshold' = '0.5',
  'circuit-breaker-timeout' = '1h', 'default-value' = 'null');
CREATE TEMPORARY TABLE predictions (id BIGINT, class_id BIGINT) WITH ('connector' = 'blackhole');
CREATE TEMPORARY TABLE fallbacks (id BIGINT, OUT_x ARRAY<FLOAT>) WITH ('connector' = 'blackhole');
INSERT INTO predictions SELECT id, class_id FROM ML_PREDICT(TABLE measured, MODEL iris, DESCRIPTOR(features));
INSERT INTO fallbacks SELECT id, OUT_x FROM ML_PREDICT(TABLE measured_x, MODEL flaky, DESCRIPTOR(x));
"""
ID_JOB = "iris_watch"  # the job part of request ids (the pyflink-triton.job parameter)
MORE = 40  # rows written once the breaker is open: refused without being sent


def label_value(text: str) -> str:
    """A label value as the reporter exports it: characters outside [a-zA-Z0-9:_] become _."""
    return re.sub(r"[^a-zA-Z0-9:_]", "_", text)


TRITON_JOB = label_value("insert-into_default_catalog.default_database.predictions")
FAULT_JOB = label_value("insert-into_default_catalog.default_database.fallbacks")

pytestmark = [pytest.mark.flink, pytest.mark.slow]


@dataclass
class Stack:
    cluster: FlinkCluster
    prometheus: PrometheusServer
    fault: FaultServer
    job_ids: list[str]
    reporter_ports: dict[str, int]
    inputs: Path
    sent_before_open: int = 0  # requests the fault server answered before MORE rows came


def write_rows(folder: Path, ids: range) -> None:
    """One CSV file of these ids, written under a hidden name and renamed (the source never reads half)."""
    hidden, final = folder / f".rows-{ids.start}.tmp", folder / f"rows-{ids.start:06d}.csv"
    with hidden.open("w", newline="") as f:
        csv.writer(f).writerows([i, *features(i)] for i in ids)
    hidden.rename(final)


def reporter_port(cluster: FlinkCluster, process: str) -> int | None:
    """The port the reporter of the JobManager (``standalonesession``) or TaskManager
    (``taskexecutor``) bound, from its log."""
    for log in cluster.log_dir.glob(f"*{process}*.log"):
        found = re.search(r"Started PrometheusReporter HTTP server on port (\d+)", log.read_text(errors="replace"))
        if found:
            return int(found.group(1))
    return None


def prometheus_folder(root: Path, ports: dict[str, int]) -> Path:
    """deploy/prometheus's config and rules as they are, plus this test's targets (1s scrapes)."""
    folder = root / "prometheus"
    shutil.copytree(DEPLOY, folder)
    (folder / "targets").mkdir()
    targets = [
        {
            "targets": [f"127.0.0.1:{port}"],
            "labels": {"flink_process": process, "__scrape_interval__": "1s", "__scrape_timeout__": "1s"},
        }
        for process, port in ports.items()
    ]
    (folder / "targets" / "test.yml").write_text(yaml.safe_dump(targets))
    return folder


def submit(cluster: FlinkCluster, worker: HiddenPackagesPython, tmp: Path, triton: str, fault: str) -> list[str]:
    inputs = tmp / "in"
    script = tmp / "jobs.sql"
    script.write_text(JOBS_SQL.format(input=inputs.as_uri()))
    env = {"TRITON_ENDPOINT": triton + "/v2/models", "FAULT_ENDPOINT": fault + "/v2/models"}
    job_parameters = f"pipeline.global-job-parameters=pyflink-triton.job:{ID_JOB}"
    result = cluster.run_cli(script, worker, env, "--detach", "--set", job_parameters)
    job_ids = re.findall(r"^Job has been submitted with JobID ([0-9a-f]{32})$", result.stdout, re.MULTILINE)
    assert result.returncode == 0 and len(job_ids) == 2, f"{result.stdout}\n{result.stderr[-3000:]}"
    return job_ids


def final_counts(stack: Stack) -> dict[str, dict[str, float]]:
    """Per job: every counter and gauge of the group, summed over subtasks, and the Inf bucket."""
    counts: dict[str, dict[str, float]] = {}
    for metric in METRICS:
        if metric.kind == "histogram":
            continue
        for job, value in stack.prometheus.values(f"sum by (job_name) ({metric.prometheus})", "job_name").items():
            counts.setdefault(job, {})[metric.name] = value
    bucket = f'sum by (job_name) ({P}le_requestLatencyMsBucket{{le="Inf"}})'
    for job, value in stack.prometheus.values(bucket, "job_name").items():
        counts.setdefault(job, {})["latencyBucketInf"] = value
    return counts


def settled(stack: Stack, counts: dict[str, dict[str, float]], rows: int) -> bool:
    """``rows`` rows counted by both jobs, and every request the fault server answered counted."""
    tri, flt = counts.get(TRITON_JOB, {}), counts.get(FAULT_JOB, {})
    return (
        tri.get("rows") == rows
        and flt.get("rows") == rows
        and flt.get("fallbacks") == rows
        and flt.get("requests") == len(stack.fault.infer_requests)
        and tri.get("latencyBucketInf") == tri.get("requests")
        and flt.get("circuitBreakerState") == 2
    )


@pytest.fixture(scope="module")
def stack(triton_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    require_binary("prometheus")
    tmp = tmp_path_factory.mktemp("prometheus-stack")
    loop = LoopThread("fault-server").start()
    fault = loop.run(FaultServer(actions=[("status", 503, "overloaded")] * 100_000).start())
    first = free_port()
    cluster = FlinkCluster(
        slots=2,
        extra_config={
            "metrics.reporter.prom.factory.class": "org.apache.flink.metrics.prometheus.PrometheusReporterFactory",
            "metrics.reporter.prom.port": f"{first}-{first + 20}",
        },
    )
    worker = HiddenPackagesPython(("pyflink_triton",), tmp / "worker-python")
    job_ids: list[str] = []
    try:
        cluster.start()
        found = poll(
            lambda: {p: reporter_port(cluster, p) for p in ("standalonesession", "taskexecutor")},
            lambda found: None not in found.values(),
            30,
            "the reporters' ports in the logs",
        )
        ports = {"jobmanager": found["standalonesession"] or 0, "taskmanager": found["taskexecutor"] or 0}
        with PrometheusServer(prometheus_folder(tmp, ports)) as prometheus:
            s = Stack(cluster, prometheus, fault, job_ids, ports, tmp / "in")
            s.inputs.mkdir()
            write_rows(s.inputs, range(ROWS))
            job_ids += submit(cluster, worker, tmp, triton_url, fault.url)
            poll(lambda: final_counts(s), lambda c: settled(s, c, ROWS), 90, f"Prometheus counting {ROWS} rows")
            # The breaker is open now: the next rows are refused without a request.
            s.sent_before_open = len(fault.infer_requests)
            write_rows(s.inputs, range(ROWS, ROWS + MORE))
            poll(lambda: final_counts(s), lambda c: settled(s, c, ROWS + MORE), 60, f"Prometheus counting {MORE} more")
            yield s
    finally:
        for job_id in job_ids:
            cluster.cancel_job(job_id)
        cluster.stop()
        loop.run(fault.stop())
        loop.stop()
    assert cluster.leftover_pids() == []


# -- the counts, under the documented names ----------------------------------------------------


def test_prometheus_counts_what_the_jobs_did(stack: Stack) -> None:
    counts = final_counts(stack)
    sent = len(stack.fault.infer_requests)
    total = ROWS + MORE
    print(
        f"\nrows sent to each job: {total} ({ROWS}, then {MORE} once the breaker was open); "
        f"requests the fault server answered (all 503): {sent} ({stack.sent_before_open} before the {MORE})"
    )
    print(f"{'metric (sum over subtasks)':<28} {'predictions (Triton)':>22} {'fallbacks (503s)':>18}")
    for name in [*counts[TRITON_JOB]]:
        print(f"{name:<28} {counts[TRITON_JOB][name]:>22g} {counts[FAULT_JOB].get(name, math.nan):>18g}")
    for q in (0.5, 0.99):
        quantile = f"histogram_quantile({q}, sum by (job_name, le) (rate({P}le_requestLatencyMsBucket[5m])))"
        print(
            f"latency p{q * 100:g} (ms, 5m)           {stack.prometheus.values(quantile, 'job_name')[TRITON_JOB]:>22.1f}"
        )
    tri, flt = counts[TRITON_JOB], counts[FAULT_JOB]
    # Every row reached Triton and came back: no failure, nothing retried, nothing defaulted.
    assert tri["rows"] == total and tri["nullRows"] == 0
    assert tri["requests"] >= tri["batches"] >= 2 and tri["requests"] >= total / 16
    assert tri["failures"] == tri["retries"] == tri["fallbacks"] == tri["failedRows"] == 0, tri
    assert tri["breakerRejections"] == 0 and tri["circuitBreakerState"] == 0 and tri["rowsInFlight"] == 0, tri
    assert tri["latencyBucketInf"] == tri["requests"], tri  # one latency per request
    assert tri["requestLatencyMs"] == 0  # a distribution: text, exported as a constant 0 (docs/metrics.md)
    # Every request failed (the fault server's count is exact) and was retried (up to 2 times);
    # the breaker opened (half of >= 10 requests failed) and refused the later rows' requests
    # without sending them; every row got the default value.
    assert flt["rows"] == total and flt["fallbacks"] == total and flt["failedRows"] == 0, flt
    assert flt["requests"] == flt["failures"] == sent == stack.sent_before_open >= 10, flt
    assert 1 <= flt["retries"] <= sent * 2 / 3, flt
    assert flt["breakerRejections"] >= 1, flt
    assert flt["circuitBreakerState"] == 2 and flt["rowsInFlight"] == 0, flt


def test_every_documented_name_is_scraped_with_its_labels(stack: Stack) -> None:
    series = stack.prometheus.query(f'{{__name__=~"{P}.*", job_name="{TRITON_JOB}"}}')
    names = {s["metric"]["__name__"] for s in series}
    expected = {m.prometheus for m in METRICS if not m.generate_only}  # this job calls infer
    assert names == expected, sorted(names ^ expected)
    for s in series:
        labels = s["metric"]
        assert {"job_id", "job_name", "task_name", "operator_name", "subtask_index", "tm_id", "host"} <= set(labels)
        assert labels["job_id"] in stack.job_ids and labels["subtask_index"] == "0", labels
    buckets = {s["metric"]["le"] for s in series if "le" in s["metric"]}
    assert buckets == set(LATENCY_BUCKET_LABELS)
    # The JobManager is scraped too: both jobs run.
    assert stack.prometheus.values("flink_jobmanager_numRunningJobs", "flink_process") == {"jobmanager": 2}
    assert stack.prometheus.values("up", "flink_process") == {"jobmanager": 1, "taskmanager": 1}


# -- the dashboard ----------------------------------------------------------------------------


def dashboard_queries() -> list[tuple[str, str]]:
    """(panel title and refId, expression) of every query of every panel."""
    board = json.loads(DASHBOARD.read_text())
    return [(f"{p['title']} {t['refId']}", t["expr"]) for p in board["panels"] for t in p["targets"]]


def substitute(expr: str, job: str, operator: str, subtask: str) -> str:
    """Grafana's variables as a user selecting these values would have them filled in."""
    for name, value in (
        ("$__rate_interval", "5m"),
        ("$job", re.escape(job)),
        ("$operator", re.escape(operator)),
        ("$subtask", subtask),
    ):
        expr = expr.replace(name, value)
    assert "$" not in expr, expr
    return expr


def test_every_dashboard_variable_lists_the_jobs_operators_and_subtasks(stack: Stack) -> None:
    board = json.loads(DASHBOARD.read_text())
    variables = {v["name"]: v for v in board["templating"]["list"]}
    assert set(variables) == {"datasource", "job", "operator", "subtask"}
    found = {}
    for name in ("job", "operator", "subtask"):
        query = re.fullmatch(r"label_values\((.*), (\w+)\)", variables[name]["query"]["query"])
        assert query, variables[name]
        selector = query.group(1).replace("$job", ".*").replace("$operator", ".*")
        found[name] = set(stack.prometheus.api(f"label/{query.group(2)}/values", **{"match[]": selector}))
    assert found["job"] == {TRITON_JOB, FAULT_JOB} and found["subtask"] == {"0"}
    assert len(found["operator"]) == 2, found


#: The panels whose rate went up while Prometheus watched: the MORE rows came through both jobs,
#: Triton answered them, the breaker refused the fault job's (whose 503s were all before).
MOVING = {
    ("Rows/s A", TRITON_JOB),
    ("Rows/s A", FAULT_JOB),
    ("Requests/s A", TRITON_JOB),
    ("Failures and retries /s C", FAULT_JOB),
    ("Fallbacks and failed rows /s A", FAULT_JOB),
}


@pytest.mark.parametrize(("panel", "expr"), dashboard_queries(), ids=[q[0] for q in dashboard_queries()])
def test_every_dashboard_query_shows_its_series(stack: Stack, panel: str, expr: str) -> None:
    for job in (TRITON_JOB, FAULT_JOB):
        [operator] = stack.prometheus.values(f'{P}rows{{job_name="{job}"}}', "operator_name")
        series = stack.prometheus.query(substitute(expr, job, operator, "0"))
        assert len(series) == 1, (panel, job, series)
        labels, value = series[0]["metric"], float(series[0]["value"][1])
        assert (labels["job_name"], labels["operator_name"], labels["subtask_index"]) == (job, operator, "0")
        if job == TRITON_JOB and "latency" in panel:
            assert 0 < value < 30_000, (panel, value)  # a quantile of real requests, not NaN
        if (panel, job) in MOVING:
            assert value > 0, (panel, job, value)
        if panel.startswith("Circuit breaker"):
            assert value == (2 if job == FAULT_JOB else 0), (panel, job, value)


# -- the alerting rules -----------------------------------------------------------------------


def test_the_deployed_rules_are_loaded_by_prometheus(stack: Stack) -> None:
    groups = stack.prometheus.api("rules")["groups"]
    loaded = {r["name"] for g in groups for r in g["rules"] if r["type"] == "alerting"}
    deployed = {
        r["alert"] for g in yaml.safe_load((DEPLOY / "triton-alerts.yml").read_text())["groups"] for r in g["rules"]
    }
    assert loaded == deployed and len(deployed) == 5, loaded


def test_request_ids_lead_from_a_failure_to_its_subtask(stack: Stack) -> None:
    """docs/operations.md: a failed request's id (`<job>-<subtask>-<batch>-<request>`, in the body
    and in X-Request-ID) names the subtask of the metrics' subtask_index, and retries keep it."""
    requests = stack.fault.infer_requests
    ids = [r.header_json["id"] if r.header_json else None for r in requests]
    assert [r.headers.get("X-Request-ID") for r in requests] == ids
    [subtask] = stack.prometheus.values(f'{P}failures{{job_name="{FAULT_JOB}"}}', "subtask_index")
    assert all(re.fullmatch(rf"{ID_JOB}-{subtask}-\d+-\d+", str(i)) for i in ids), ids[:5]
    attempts = Counter(ids)
    print(f"\nrequest ids: {len(attempts)} distinct, e.g. {ids[0]}; attempts per id: {Counter(attempts.values())}")
    assert (
        max(attempts.values()) <= 3
        and sum(attempts.values()) - len(attempts) == final_counts(stack)[FAULT_JOB]["retries"]
    )
