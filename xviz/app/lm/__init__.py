"""lm page."""
