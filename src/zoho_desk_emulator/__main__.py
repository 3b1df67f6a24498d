"""`python -m zoho_desk_emulator` serves the emulator standalone."""

from zoho_desk_emulator.standalone import main

raise SystemExit(main())
