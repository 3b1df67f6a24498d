"""The admin command bodies, one module per group: queue, auth (and whoami), desk, doctor."""
