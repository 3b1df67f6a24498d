"""Adapters: the ports implemented against Zoho Desk, Redis, files and memory."""
