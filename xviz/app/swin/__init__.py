"""swin page."""
