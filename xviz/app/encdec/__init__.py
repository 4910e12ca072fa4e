"""encdec page."""
