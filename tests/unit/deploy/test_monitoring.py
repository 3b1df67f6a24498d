"""The monitoring files under deploy/: the alert rules pass `promtool check rules` and their own
unit tests (`promtool test rules`), Prometheus's configuration passes `promtool check config`,
the dashboard's queries are PromQL, and every metric and label the rules and the dashboard name
is one the service exposes (read from a PrometheusMetrics registry), so renaming a metric or a
label breaks the build instead of an alert.

promtool comes from Debian's ``prometheus`` package (.ci/run installs it); without it these
tests skip on a laptop and fail in CI (REQUIRE_REDIS=1 or CI set).
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import shutil
import subprocess
from collections.abc import Iterator
from functools import cache
from pathlib import Path
from typing import Any

import pytest
import yaml
from prometheus_client.parser import text_string_to_metric_families

from ticketing.adapters.prometheus import ATTACHMENT_REFUSALS, PrometheusMetrics
from ticketing.application.attachments import _REASONS as NOTE_REASONS
from ticketing.application.sync.lag import SyncLag
from ticketing.domain.breaker import BreakerState
from ticketing.domain.model import PICKLIST_FIELDS, Source
from ticketing.domain.ports import RefreshAllowance, TokenSet, TokenStatus

from tests.support.redis import REQUIRE_REDIS

ROOT = Path(__file__).resolve().parents[3]
PROMETHEUS = ROOT / "deploy" / "prometheus"
RULES = PROMETHEUS / "alerts.yml"
RULE_TESTS = PROMETHEUS / "alerts.test.yml"
CONFIG = PROMETHEUS / "prometheus.yml"
GRAFANA = ROOT / "deploy" / "grafana"
DASHBOARD = GRAFANA / "dashboards" / "ticketing.json"

_METRIC = re.compile(r"\b(ticketing_[a-z0-9_]+)\b")
_SELECTOR = re.compile(r"\b(ticketing_[a-z0-9_]+)\{([^}]*)\}")
_MATCHER = re.compile(r'(\w+)\s*(=~|!~|!=|=)\s*"([^"]*)"')
_GROUPING = re.compile(r"\b(?:by|without)\s*\(([^)]*)\)")
# Labels every scraped series has (the target's), and a histogram bucket's bound.
_TARGET_LABELS = {"job", "instance"}


# --- promtool ----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def promtool() -> str:
    path = shutil.which("promtool")
    if path is None:
        reason = (
            "promtool is not installed (Debian: apt-get install -y prometheus); "
            "the monitoring files are not checked"
        )
        if REQUIRE_REDIS or os.environ.get("CI"):
            pytest.fail(f"{reason}, and CI must check them (.ci/run installs it)")
        pytest.skip(reason)
    return path


def run(*args: str, cwd: Path = ROOT) -> None:
    done = subprocess.run(  # noqa: S603 - promtool on our own files
        args, cwd=cwd, capture_output=True, text=True, timeout=120, check=False
    )
    assert done.returncode == 0, f"{' '.join(args)} failed:\n{done.stdout}{done.stderr}"


def test_alert_rules_pass_promtool_check(promtool: str) -> None:
    run(promtool, "check", "rules", str(RULES))


def test_alert_rules_pass_their_unit_tests(promtool: str) -> None:
    """alerts.test.yml feeds series and says when each alert fires and when it must not."""
    run(promtool, "test", "rules", RULE_TESTS.name, cwd=PROMETHEUS)


def test_prometheus_config_passes_promtool_check(promtool: str, tmp_path: Path) -> None:
    """prometheus.yml loads, with its rules, once the key file the container writes exists."""
    key = tmp_path / "api-key"
    key.write_text("1000.fake-scrape-key", encoding="utf-8")
    text = CONFIG.read_text(encoding="utf-8")
    assert "credentials_file: /tmp/api-key" in text
    (tmp_path / "prometheus.yml").write_text(text.replace("/tmp/api-key", str(key)), "utf-8")
    shutil.copy(RULES, tmp_path / RULES.name)
    run(promtool, "check", "config", str(tmp_path / "prometheus.yml"))


def test_dashboard_queries_are_promql(promtool: str, tmp_path: Path) -> None:
    """Every panel's query parses: checked as recording rules by promtool, with Grafana's
    $__rate_interval as 5m."""
    rules = [
        {"record": f"dashboard_query_{number}", "expr": expr.replace("$__rate_interval", "5m")}
        for number, expr in enumerate(dashboard_queries())
    ]
    path = tmp_path / "dashboard-queries.yml"
    path.write_text(yaml.safe_dump({"groups": [{"name": "dashboard", "rules": rules}]}), "utf-8")
    run(promtool, "check", "rules", str(path))


def test_promtool_failure_is_reported(promtool: str, tmp_path: Path) -> None:
    """The checks above can fail: a rule naming a bad expression is refused with its error."""
    path = tmp_path / "broken.yml"
    path.write_text(
        yaml.safe_dump(
            {"groups": [{"name": "x", "rules": [{"alert": "X", "expr": "rate(ticketing_x[5m]"}]}]}
        ),
        "utf-8",
    )
    with pytest.raises(AssertionError, match="check rules"):
        run(promtool, "check", "rules", str(path))


# --- the rules and the dashboard against the metrics -------------------------------------


def alert_rules() -> list[dict[str, Any]]:
    groups = yaml.safe_load(RULES.read_text(encoding="utf-8"))["groups"]
    return [rule for group in groups for rule in group["rules"]]


def dashboard_queries() -> list[str]:
    dashboard = json.loads(DASHBOARD.read_text(encoding="utf-8"))

    def panels(items: list[dict[str, Any]]) -> Iterator[dict[str, Any]]:
        for panel in items:
            yield panel
            yield from panels(panel.get("panels", []))

    return [
        target["expr"]
        for panel in panels(dashboard["panels"])
        for target in panel.get("targets", [])
    ]


def all_queries() -> list[tuple[str, str]]:
    """(where, expression) for every rule and every dashboard query."""
    rules = [(f"alert {rule['alert']}", str(rule["expr"])) for rule in alert_rules()]
    panels = [(f"dashboard query {expr!r}", expr) for expr in dashboard_queries()]
    return rules + panels


class _Store:
    """The queue as the scrape reads it."""

    async def ping(self) -> bool:
        return True

    async def probe_write(self) -> None:
        return None

    async def pending_count(self) -> int:
        return 3

    async def dead_count(self) -> int:
        return 1


class _Credentials:
    """Tokens that are fine."""

    async def access_token(self) -> str:
        return "1000.fake-access-token"

    async def adopt(self, tokens: TokenSet) -> None:
        return None

    async def report(self) -> TokenStatus:
        return TokenStatus(store="memory", authorized=True)

    async def resume(self) -> RefreshAllowance | None:
        return None


async def _lag() -> SyncLag:
    return SyncLag(inbox=0.0, poll=30.0)


def _watched() -> PrometheusMetrics:
    metrics = PrometheusMetrics()
    metrics.watch(
        store=_Store(),
        breaker_state=lambda: BreakerState.CLOSED,
        token_refreshes=lambda: 1,
        credits_remaining=lambda: 5000,
        credentials=_Credentials(),
    )
    metrics.watch_sync(_lag)
    return metrics


def _exercise(metrics: PrometheusMetrics) -> None:
    """One of everything the service records, so every family shows its labels."""
    metrics.ticket("created", Source.HTTP)
    metrics.ticket_latency(Source.HTTP, 1.0)
    metrics.zoho_call("/api/v1/tickets", "POST", "200", 0.1)
    metrics.http_request("POST", "/tickets/customer", 201)
    metrics.picklist_refused("priority")
    metrics.pubsub_received(1)
    metrics.pubsub_disconnect()
    metrics.poison("stream")
    metrics.sync_event("reply")
    metrics.sync_skipped("foreign")
    metrics.webhook_delivery("stored")
    metrics.webhook_signature("verified")
    metrics.reply_latency(1.0)
    metrics.poll_credits(3)
    metrics.attachment_uploaded(10, 0.5)
    metrics.attachment_refused("too_large")


def _families(metrics: PrometheusMetrics) -> dict[str, dict[str, set[str]]]:
    """Sample name → label → the values seen, from a scrape of ``metrics``."""
    text = asyncio.run(metrics.scrape()).decode()
    out: dict[str, dict[str, set[str]]] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            labels = out.setdefault(sample.name, {})
            for label, value in sample.labels.items():
                labels.setdefault(label, set()).add(value)
        if not family.samples:
            out.setdefault(f"(no samples) {family.name}", {})
    return out


@cache
def exposed() -> dict[str, dict[str, set[str]]]:
    """Every sample name the service exposes, with its labels and the values seen."""
    metrics = _watched()
    _exercise(metrics)
    return _families(metrics)


@cache
def declared() -> dict[str, dict[str, set[str]]]:
    """Label values the service shows from the start (the closed sets: pubsub outcomes,
    webhook outcomes, breaker states ...): a rule naming another value never matches."""
    return _families(_watched())


def test_every_family_is_exercised() -> None:
    """Each metric shows samples here, so its labels are known to the checks below."""
    silent = sorted(name for name in exposed() if name.startswith("(no samples)"))
    assert not silent, f"record these in _exercise so their labels are checked: {silent}"


def test_every_metric_used_exists() -> None:
    """A metric renamed in prometheus.py and not in the rules or the dashboard breaks here."""
    names = set(exposed())
    unknown = [
        f"{where}: {name}"
        for where, expr in all_queries()
        for name in _METRIC.findall(expr)
        if name not in names
    ]
    assert not unknown, "not a metric of src/ticketing/adapters/prometheus.py:\n" + "\n".join(
        unknown
    )


def test_every_label_used_exists() -> None:
    """Selectors and by/without name labels (and, for closed sets, values) the metrics have."""
    metrics = exposed()
    closed = declared()
    wrong: list[str] = []
    for where, expr in all_queries():
        used = set(_METRIC.findall(expr))
        for name, matchers in _SELECTOR.findall(expr):
            for label, operator, value in _MATCHER.findall(matchers):
                if label not in metrics.get(name, {}):
                    wrong.append(f"{where}: {name} has no label {label}")
                    continue
                known = closed.get(name, {}).get(label)
                if known and operator in ("=", "=~"):
                    for alternative in value.split("|"):
                        if re.fullmatch(r"[\w]+", alternative) and alternative not in known:
                            wrong.append(f"{where}: {name}{{{label}}} is never {alternative!r}")
        available = _TARGET_LABELS.union(*(metrics.get(name, {}) for name in used))
        for grouping in _GROUPING.findall(expr):
            for label in (part.strip() for part in grouping.split(",")):
                if label and label not in available:
                    wrong.append(f"{where}: no metric here has the label {label}")
    assert not wrong, "\n".join(wrong)


def test_the_label_checks_catch_a_mistake() -> None:
    """The checks above can fail: a renamed label and a value outside a closed set."""
    metrics = exposed()
    assert "outcome" in metrics["ticketing_pubsub_messages_total"]
    assert "reason" not in metrics["ticketing_pubsub_messages_total"]
    assert declared()["ticketing_pubsub_messages_total"]["outcome"] == {"received", "lost"}
    assert "ticketing_queue_pending" in metrics
    assert "ticketing_queue_length" not in metrics


# Counters whose label values are open (any HTTP status): their errors come in bursts, so a
# series born at 1 is followed by increments an alert sees.
_OPEN_COUNTERS = {"ticketing_zoho_requests_total", "ticketing_http_requests_total"}


def test_alerted_counters_are_shown_at_zero_from_the_start() -> None:
    """A counter that first appears at 1 has no increase() in Prometheus: an alert on the first
    refused file or picklist value would never fire unless its series is there at 0."""
    metrics, closed = exposed(), declared()
    late = sorted(
        f"alert {rule['alert']}: {name}"
        for rule in alert_rules()
        for name in _METRIC.findall(str(rule["expr"]))
        if name.endswith("_total")
        and set(metrics.get(name, {})) - _TARGET_LABELS
        and name not in closed
        and name not in _OPEN_COUNTERS
    )
    assert not late, "show these label values at 0 in PrometheusMetrics:\n" + "\n".join(late)


def test_every_attachment_refusal_is_shown_from_the_start() -> None:
    """Every reason the attachments give (the note's list) is a series at 0 before any file."""
    assert set(ATTACHMENT_REFUSALS) == set(NOTE_REASONS)
    assert closed_values("ticketing_attachments_refused_total", "reason") == set(NOTE_REASONS)
    assert closed_values("ticketing_picklist_values_refused_total", "field") == set(PICKLIST_FIELDS)


def closed_values(name: str, label: str) -> set[str]:
    return declared()[name][label]


def test_the_dashboard_shows_every_metric() -> None:
    """A metric added to prometheus.py gets a panel."""
    shown = {name for expr in dashboard_queries() for name in _METRIC.findall(expr)}
    families = {
        re.sub(r"_(total|created|bucket|sum|count)$", "", name)
        for name in exposed()
        if not name.endswith("_created")
    }
    missing = sorted(
        family
        for family in families
        if not any(name == family or name.startswith(f"{family}_") for name in shown)
    )
    assert not missing, f"add a panel for: {missing}"


# --- the rules' shape, the tests' coverage, the compose profile ---------------------------


def test_every_alert_has_a_severity_a_summary_and_a_firing_test() -> None:
    tests = yaml.safe_load(RULE_TESTS.read_text(encoding="utf-8"))
    fired = {
        case["alertname"]
        for test in tests["tests"]
        for case in test.get("alert_rule_test", [])
        if case.get("exp_alerts")
    }
    names = [rule["alert"] for rule in alert_rules()]
    assert len(names) == len(set(names)), "an alert name is used twice"
    for rule in alert_rules():
        assert rule["labels"]["severity"] in {"critical", "warning", "info"}, rule["alert"]
        assert rule["annotations"]["summary"], rule["alert"]
    untested = sorted(set(names) - fired)
    assert not untested, f"add a case to alerts.test.yml where these fire: {untested}"
    assert tests["rule_files"] == [RULES.name]


def test_compose_monitoring_profile_mounts_the_files() -> None:
    """`docker compose --profile monitoring up` runs Prometheus with the config and the rules,
    and Grafana with the provisioning and the dashboard; both only in that profile."""
    compose = yaml.safe_load((ROOT / "compose.yaml").read_text(encoding="utf-8"))
    services = compose["services"]
    for name in ("prometheus", "grafana"):
        assert services[name]["profiles"] == ["monitoring"]
        for volume in services[name]["volumes"]:
            source = volume.split(":")[0]
            if source.startswith("./"):
                assert (ROOT / source).exists(), f"{name} mounts {source}, which does not exist"
    prometheus = services["prometheus"]
    mounted = {v.split(":")[1]: v.split(":")[0] for v in prometheus["volumes"]}
    assert mounted["/etc/prometheus/prometheus.yml"] == "./deploy/prometheus/prometheus.yml"
    assert mounted["/etc/prometheus/alerts.yml"] == "./deploy/prometheus/alerts.yml"
    assert "--config.file=/etc/prometheus/prometheus.yml" in prometheus["command"]
    # the scrape's key file is written where prometheus.yml reads it
    assert "/tmp/api-key" in prometheus["entrypoint"][2]
    assert "/tmp" in prometheus["tmpfs"]
    config = yaml.safe_load(CONFIG.read_text(encoding="utf-8"))
    assert config["rule_files"] == ["alerts.yml"]
    targets = {job["job_name"]: job for job in config["scrape_configs"]}
    assert targets["ticketing-api"]["static_configs"][0]["targets"] == ["api:8005"]
    worker = targets["ticketing-worker"]["dns_sd_configs"][0]
    assert worker["port"] == int(services["worker"]["environment"]["METRICS_PORT"])
    for job in targets.values():
        assert job["authorization"]["credentials_file"] == "/tmp/api-key"
    grafana = services["grafana"]
    mounted = {v.split(":")[1]: v.split(":")[0] for v in grafana["volumes"]}
    assert mounted["/etc/grafana/provisioning"] == "./deploy/grafana/provisioning"
    assert mounted["/etc/grafana/dashboards"] == "./deploy/grafana/dashboards"
    provider = yaml.safe_load((GRAFANA / "provisioning/dashboards/ticketing.yml").read_text())
    assert provider["providers"][0]["options"]["path"] == "/etc/grafana/dashboards"
    source = yaml.safe_load((GRAFANA / "provisioning/datasources/prometheus.yml").read_text())
    assert source["datasources"][0]["url"] == "http://prometheus:9090"
    assert source["datasources"][0]["type"] == "prometheus"
    home = grafana["environment"]["GF_DASHBOARDS_DEFAULT_HOME_DASHBOARD_PATH"]
    assert home == f"/etc/grafana/dashboards/{DASHBOARD.name}"
