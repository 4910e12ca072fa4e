"""masking page."""
