"""Small training loops that pages can stream (no streamlit)."""
