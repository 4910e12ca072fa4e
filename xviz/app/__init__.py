"""The only package code that imports streamlit: cached loaders, shared sidebar and widgets."""
