"""Attachments' adapters: the bytes sources an upload reads, and the safe URL fetcher."""
