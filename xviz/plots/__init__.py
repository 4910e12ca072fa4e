"""Figure builders: tensors/arrays in, plotly figures out. No streamlit here."""
