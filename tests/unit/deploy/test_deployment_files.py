"""The deployment files: .env.example lists exactly the settings, the compose file and the
Dockerfile hold together (no Docker engine here, so what can be checked without one)."""

from __future__ import annotations

import re
from pathlib import Path

import yaml

from ticketing.settings import SPEC, Settings, read_dotenv

ROOT = Path(__file__).resolve().parents[3]
_VARIABLE = re.compile(r"^#?\s?([A-Z][A-Z0-9_]*)=", re.MULTILINE)


def test_env_example_lists_exactly_the_settings() -> None:
    """Every variable settings.py reads is in .env.example under a comment, and nothing else."""
    text = (ROOT / ".env.example").read_text(encoding="utf-8")
    listed = _VARIABLE.findall(text)
    wanted = {spec["env"] for spec in SPEC.values()}
    assert len(listed) == len(set(listed)), "a variable is listed twice"
    missing, extra = wanted - set(listed), set(listed) - wanted
    assert not missing, f"add these to .env.example with their meaning: {sorted(missing)}"
    assert not extra, f".env.example lists variables settings.py does not read: {sorted(extra)}"
    lines = text.splitlines()
    for number, line in enumerate(lines):
        # a variable, or a group of them, comes after a comment saying what it means
        if _VARIABLE.match(line) and not lines[number - 1].startswith("#"):
            raise AssertionError(f".env.example line {number + 1} has no comment above it")


def test_env_example_loads_as_development_settings() -> None:
    """Copied to .env as it is, the example starts a development service (sandbox mode)."""
    values = read_dotenv(ROOT / ".env.example")
    settings = Settings.load({}, dotenv=ROOT / ".env.example")
    assert values["ENVIRONMENT"] == "development"
    assert settings.sandbox
    assert not settings.production


def test_compose_runs_redis_append_only_the_api_and_workers() -> None:
    """compose.yaml: Redis with appendonly on, the API without the consumer, scalable workers,
    all against the same Redis."""
    compose = yaml.safe_load((ROOT / "compose.yaml").read_text(encoding="utf-8"))
    # the rest (Prometheus, Grafana) are in optional profiles: tests/unit/deploy/test_monitoring.py
    services = {k: v for k, v in compose["services"].items() if "profiles" not in v}
    assert set(services) == {"redis", "api", "worker"}
    redis_command = services["redis"]["command"]
    assert redis_command[redis_command.index("--appendonly") + 1] == "yes"
    assert services["api"]["command"] == ["serve", "--no-consumer"]
    assert services["worker"]["command"] == ["worker"]
    assert services["worker"]["deploy"]["replicas"] >= 2
    for name in ("api", "worker"):
        service = services[name]
        assert service["environment"]["REDIS_URL"] == "redis://redis:6379/0"
        assert service["environment"]["ENVIRONMENT"] == "production"
        assert service["depends_on"]["redis"]["condition"] == "service_healthy"
        assert service["env_file"] == ".env"
        assert service["build"] == "."
    known = {spec["env"] for spec in SPEC.values()}
    for name in ("api", "worker"):
        assert set(services[name]["environment"]) <= known
    assert (
        services["worker"]["environment"]["METRICS_PORT"]
        in services["worker"]["healthcheck"]["test"][-1]
    )


def test_dockerfile_is_multi_stage_non_root_and_locked() -> None:
    """The Dockerfile builds with uv from the lock file without dev dependencies, runs as a
    non-root user, and copies only files that exist."""
    text = (ROOT / "Dockerfile").read_text(encoding="utf-8")
    stages = re.findall(r"^FROM\s+\S+\s+AS\s+(\w+)", text, re.MULTILINE)
    assert stages == ["build", "runtime"]
    assert "uv sync --frozen --no-dev" in text
    user = re.findall(r"^USER\s+(\S+)", text, re.MULTILINE)
    assert user
    assert not user[-1].startswith(("root", "0"))
    for line in re.findall(r"^COPY\s+(?!--from)(.+)$", text, re.MULTILINE):
        *sources, _dest = line.split()
        for source in sources:
            assert (ROOT / source).exists(), f"Dockerfile copies {source}, which does not exist"
    entry = re.search(r'^ENTRYPOINT \["(\w+)"\]', text, re.MULTILINE)
    assert entry is not None
    assert entry.group(1) == "ticketing"
    assert 'ticketing = "ticketing.entrypoints.cli:main"' in (ROOT / "pyproject.toml").read_text()


def test_dockerignore_keeps_secrets_out_of_the_build_context() -> None:
    """.env files and token files never go into an image."""
    ignored = (ROOT / ".dockerignore").read_text(encoding="utf-8").splitlines()
    for pattern in (".env", ".zoho_tokens.json", ".git"):
        assert pattern in ignored
