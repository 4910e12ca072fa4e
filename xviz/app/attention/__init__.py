"""attention page."""
