"""Unit tests of the `ticketing` command package."""
