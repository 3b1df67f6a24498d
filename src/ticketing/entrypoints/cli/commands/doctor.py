"""`doctor`: every check from configuration to Redis, and the first failure's exit code."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING, Any

from ticketing.domain.errors import ConfigurationError
from ticketing.entrypoints.cli.admin import Admin, run_admin
from ticketing.entrypoints.cli.boot import build_container
from ticketing.entrypoints.cli.errors import EXIT_ERROR, EXIT_OK, exit_code_for
from ticketing.entrypoints.cli.render import emit

if TYPE_CHECKING:
    from ticketing.application.doctor import DoctorReport
    from ticketing.container import Container


STATUS_LABEL = {"ok": "OK", "warn": "WARN", "fail": "FAIL", "skip": "SKIP"}


def _doctor_text(report: DoctorReport) -> str:
    width = max(len(c.name) for c in report.checks)
    lines = []
    for check in report.checks:
        label = STATUS_LABEL.get(check.status, check.status.upper())
        lines.append(f"{label:<5} {check.name.ljust(width)}  {check.detail}")
        if check.fix and check.status in ("fail", "warn"):
            lines.append(f"{'':<5} {''.ljust(width)}  fix: {check.fix}")
    failed = sum(c.status == "fail" for c in report.checks)
    warned = sum(c.status == "warn" for c in report.checks)
    summary = f"{failed} check(s) failed" if failed else "all checks passed"
    if warned:
        summary += f", {warned} warning(s)"
    return "\n".join([*lines, "", summary])


def _doctor_json(report: DoctorReport) -> dict[str, Any]:
    facts = report.redis
    return {
        "ok": report.ok,
        "checks": [
            {"name": c.name, "status": c.status, "detail": c.detail, "fix": c.fix}
            for c in report.checks
        ],
        "redis": None
        if facts is None
        else {
            "mode": facts.mode,
            "version": facts.version,
            "persistence": facts.persistence,
            "maxmemory_policy": facts.eviction_policy,
            "processes": list(facts.processes),
            "topology": facts.topology,
            "topology_problems": list(facts.topology_problems),
        },
    }


def _doctor_result(args: argparse.Namespace, report: DoctorReport) -> int:
    """Print the report; the exit code is the first failed check's."""
    emit(args, _doctor_json(report), lambda: _doctor_text(report))
    failure = report.first_failure
    if failure is None:
        return EXIT_OK
    return exit_code_for(failure.error) if failure.error is not None else EXIT_ERROR


async def check(ctx: Admin, args: argparse.Namespace) -> int:
    return _doctor_result(args, await ctx.admin.doctor())


async def run(args: argparse.Namespace, container: Container | None = None) -> int:
    """``doctor`` reports a configuration that cannot even be loaded as its first check."""
    from ticketing.application.doctor import configuration_failed

    try:
        container = container or build_container()
        return await run_admin(check, args, container)
    except ConfigurationError as exc:
        return _doctor_result(args, configuration_failed(exc))
