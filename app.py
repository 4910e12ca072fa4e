"""xviz router: page config, the page list (explicit), and the shared sidebar."""

import streamlit as st

from xviz.app import sidebar
from xviz.device import reuse_freed_memory

reuse_freed_memory()  # recordings reuse the last ones' pages instead of faulting fresh memory in (CPU cost)

st.set_page_config(page_title="xviz — see inside Transformers", page_icon="🔭", layout="wide")

PAGES = [
    st.Page("views/home.py", title="Home", icon=":material/home:", default=True),
    st.Page("views/attention.py", title="Attention", icon=":material/visibility:", url_path="attention"),
    st.Page("views/positional.py", title="Positional encoding", icon=":material/linear_scale:", url_path="positional"),
    st.Page("views/masking.py", title="Masking", icon=":material/grid_on:", url_path="masking"),
    st.Page("views/swin.py", title="Swin windows", icon=":material/window:", url_path="swin"),
    st.Page("views/mae.py", title="MAE", icon=":material/blur_on:", url_path="mae"),
    st.Page("views/variants.py", title="Attention variants", icon=":material/scatter_plot:", url_path="variants"),
    st.Page("views/layernorm.py", title="LayerNorm", icon=":material/balance:", url_path="layernorm"),
    st.Page("views/language_model.py", title="Language model", icon=":material/chat:", url_path="lm"),
    st.Page("views/encdec.py", title="Encoder–decoder", icon=":material/translate:", url_path="encdec"),
    st.Page("views/stepwise.py", title="Self-attention, step by step", icon=":material/stairs:", url_path="stepwise"),
    st.Page("views/mixers.py", title="Token mixers", icon=":material/blender:", url_path="mixers"),
    st.Page("views/clip.py", title="CLIP", icon=":material/image_search:", url_path="clip"),
    st.Page("views/circuits.py", title="Circuits", icon=":material/account_tree:", url_path="circuits"),
]

sidebar.render()  # before st.navigation: its widgets then survive reruns in AppTest too
page = st.navigation(PAGES, expanded=True)  # all 14 pages listed, no "View more"
page.run()
