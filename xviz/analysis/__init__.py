"""Pure-torch analyses of recordings and small experiments (no streamlit)."""
