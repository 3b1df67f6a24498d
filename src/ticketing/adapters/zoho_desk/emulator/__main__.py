"""`python -m ticketing.adapters.zoho_desk.emulator` serves the emulator standalone."""

from ticketing.adapters.zoho_desk.emulator.standalone import main

raise SystemExit(main())
