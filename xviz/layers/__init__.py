"""Reusable layers and pure functions with explicit kwargs (no streamlit, no model registry)."""
