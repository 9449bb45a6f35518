"""``deploy/prometheus/``: the scrape configuration and the alerting rules pass ``promtool``'s
checks, and ``promtool test rules`` shows each alert firing for the series meant to fire it and
not firing before its ``for:`` or for the series beside them (``triton-alerts.test.yml``).
tests/test_prometheus.py runs the same files in a real Prometheus scraping a cluster."""

from __future__ import annotations

import subprocess
from pathlib import Path

import yaml

from .prometheus_server import require_binary

DEPLOY = Path(__file__).resolve().parent.parent / "deploy" / "prometheus"


def promtool(*args: str) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(
        [require_binary("promtool"), *args], cwd=DEPLOY, capture_output=True, text=True, timeout=60, check=False
    )
    print(f"$ promtool {' '.join(args)}\n{result.stdout}{result.stderr}")
    return result


def test_config_and_rules_pass_promtool_check() -> None:
    config = promtool("check", "config", "prometheus.yml")
    assert config.returncode == 0 and "SUCCESS: prometheus.yml is valid" in config.stdout, config.stdout
    rules = promtool("check", "rules", "triton-alerts.yml")
    assert rules.returncode == 0 and "SUCCESS: 5 rules found" in rules.stdout, rules.stdout


def test_every_alert_has_cases_firing_and_not_firing() -> None:
    alerts = {
        r["alert"] for g in yaml.safe_load((DEPLOY / "triton-alerts.yml").read_text())["groups"] for r in g["rules"]
    }
    cases = yaml.safe_load((DEPLOY / "triton-alerts.test.yml").read_text())["tests"]
    firing: dict[str, int] = dict.fromkeys(alerts, 0)
    quiet: dict[str, int] = dict.fromkeys(alerts, 0)
    for case in cases:
        for check in case["alert_rule_test"]:
            (firing if check["exp_alerts"] else quiet)[check["alertname"]] += 1
    assert all(firing.values()) and all(quiet.values()), (firing, quiet)
    result = promtool("test", "rules", "triton-alerts.test.yml")
    assert result.returncode == 0 and "SUCCESS" in result.stdout, result.stdout + result.stderr


def test_promtool_test_rules_fails_a_wrong_expectation(tmp_path: Path) -> None:
    """The cases could fail: the same file expecting the open breaker on another subtask does."""
    for name in ("triton-alerts.yml", "triton-alerts.test.yml"):
        (tmp_path / name).write_text((DEPLOY / name).read_text())
    wrong = tmp_path / "triton-alerts.test.yml"
    wrong.write_text(wrong.read_text().replace("subtask_index: '0'", "subtask_index: '1'", 1))
    assert wrong.read_text() != (DEPLOY / "triton-alerts.test.yml").read_text()
    result = subprocess.run(
        [require_binary("promtool"), "test", "rules", str(wrong)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 1 and "FAILED" in result.stdout + result.stderr, result.stdout + result.stderr
