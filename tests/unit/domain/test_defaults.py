"""Which organization and department are used when none is configured."""

from __future__ import annotations

from ticketing.domain.model import (
    Department,
    Organization,
    default_department,
    default_organization,
)


def test_the_default_organization_else_the_oldest() -> None:
    older = Organization(id="9001", name="Old")
    newer = Organization(id="60001234567", name="New")
    marked = Organization(id="70001234567", name="Marked", is_default=True)
    assert default_organization([newer, older]) == older  # shorter id first: created earlier
    assert default_organization([newer, older, marked]) == marked
    assert default_organization([]) is None


def test_the_default_enabled_department_else_the_oldest_enabled() -> None:
    off = Department(id="1", name="Off", is_enabled=False, is_default=True)
    sales = Department(id="813934000000006907", name="Sales")
    support = Department(id="813934000000006906", name="Support")
    assert default_department([off, sales, support]) == support
    marked = Department(id="813934000000009999", name="Desk", is_default=True)
    assert default_department([off, sales, support, marked]) == marked
    assert default_department([off]) is None
