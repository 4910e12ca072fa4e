"""xviz router: page config, the page list (explicit), and the shared sidebar."""
import streamlit as st

from xviz.app import sidebar

st.set_page_config(page_title="xviz — see inside Transformers", page_icon="🔭", layout="wide")

PAGES = [
    st.Page("views/home.py", title="Home", icon="🏠", default=True),
    st.Page("views/attention.py", title="Attention", icon="🔍", url_path="attention"),
    st.Page("views/positional.py", title="Positional encoding", icon="📐", url_path="positional"),
    # Each page issue adds its line here.
]

sidebar.render()  # before st.navigation: its widgets then survive reruns in AppTest too
page = st.navigation(PAGES)
page.run()
