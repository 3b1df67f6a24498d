"""`python -m ticketing` runs the CLI."""

from ticketing.entrypoints.cli import main

raise SystemExit(main())
