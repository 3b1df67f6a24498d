"""Shared test helpers and fakes, in named modules (conftest.py files hold only fixtures)."""
