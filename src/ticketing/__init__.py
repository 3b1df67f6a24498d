"""ticketing: customer messages in, Zoho Desk tickets out, exactly once."""

__version__ = "0.1.0"
