"""Bad-input corpus (docs/ARCHITECTURE.md, "Bad input") through every page that takes input, in Streamlit AppTest.

Each case feeds one bad (or awkward but valid) input to a page and checks: a clear message (error / warning /
caption text with a meaningful substring), no exception element, user markup never reaching a markdown element
or a figure unescaped, and that the same session then renders the page's main figure on a valid input.
One AppTest per page is shared by its cases (models are cached per process). `pytest -s` prints a table.
"""

import os
import re

import pytest
from bad_input_cases import (
    IMAGE_CASES,
    MODEL_CASES,
    TEXT_CASES,
    UPLOAD_CASES,
    VALID_FOR,
    VALID_PNG,
    VALID_TEXT,
    make_model_folders,
)
from helpers import app_test, figures, title_of

from xviz.pretrained.fetch import minilm_folder

pytestmark = pytest.mark.filterwarnings("ignore:Detected pickle protocol")  # the malicious checkpoints
RESULTS: list[tuple[str, str, str]] = []  # (case, page, message) for the summary table
MARKERS = ("<script", "<b>BOLDX", "<img src=x")  # user markup that must never be rendered
TEXT_ELEMENTS = ("markdown", "caption", "error", "warning", "info", "success", "title", "header", "subheader")


# ---- the pages: (script, setup radio (key, value) or None, figure title that proves the page rendered) -------
PAGES = {
    "attention/text": ("views/attention.py", ("attn_mode", "Text"), "Probabilities"),
    "attention/image": ("views/attention.py", ("attn_mode", "Image"), "CLS → patches"),
    "masking/text": ("views/masking.py", ("mk_view", "Padding (batch)"), "head"),
    "masking/effect": ("views/masking.py", ("mk_view", "Effect on attention"), "head"),
    "masking/mlm": ("views/masking.py", ("mk_view", "MLM (80/10/10)"), ""),
    "masking/image": ("views/masking.py", ("mk_view", "MAE patch mask"), "what the encoder sees"),
    "mae/image": ("views/mae.py", None, "PSNR"),
    "swin/image": ("views/swin.py", None, "W-MSA"),
    "variants/text": ("views/variants.py", ("var_src", "Sentence"), "full attention"),
    "variants/image": ("views/variants.py", ("var_src", "Image"), "full attention"),
    "sidebar/model": ("views/attention.py", ("attn_mode", "Text"), "Probabilities"),
}
UPLOAD_KEY = {
    "attention/image": "img_a",
    "masking/image": "mk_img",
    "mae/image": "mae_img",
    "swin/image": "swin_img",
    "variants/image": "var_img",
}
_SESSIONS: dict[str, object] = {}


def _session(page: str):
    """The shared AppTest of a page's script, switched to the page's mode."""
    script, radio, _ = PAGES[page]
    if script not in _SESSIONS:
        _SESSIONS[script] = app_test(script)
        if script == "views/attention.py":
            _SESSIONS[script].session_state["attn_tab"] = "Head"  # the head view shows the tokens
    at = _SESSIONS[script]
    if radio and radio[0] not in [w.key for w in at.radio]:
        at.run()  # a previous case failed mid-run: start from a fresh run of the same session
    if radio and at.radio(key=radio[0]).value != radio[1]:
        at.radio(key=radio[0]).set_value(radio[1]).run()
    assert not at.exception, at.exception
    return at


@pytest.fixture(scope="module", autouse=True)
def summary():
    yield
    width = max((len(c) for c, _, _ in RESULTS), default=4)
    print(f"\n{'case':<{width}}  {'page':<15}  message\n{'-' * (width + 80)}")
    for case, page, msg in RESULTS:
        print(f"{case:<{width}}  {page:<15}  {msg[:110]}")
    print(f"{len(RESULTS)} cases; per page: {_per_page(p for _, p, _ in RESULTS)}")


def _per_page(pages) -> dict[str, int]:
    out: dict[str, int] = {}
    for p in pages:
        out[p.split("/")[0]] = out.get(p.split("/")[0], 0) + 1
    return out


# ---- checks ------------------------------------------------------------------------------------------------
def _plain(text: str) -> str:
    """Undo widgets.literal's markdown escapes, to compare with what the user sees."""
    return re.sub(r"\\(.)", r"\1", text)


def _strings(obj):
    if isinstance(obj, str):
        yield obj
    elif isinstance(obj, dict):
        for v in obj.values():
            yield from _strings(v)
    elif isinstance(obj, list):
        for v in obj:
            yield from _strings(v)


def _no_raw_markup(at) -> None:
    for kind in TEXT_ELEMENTS:
        for el in at.get(kind):
            assert not any(m in el.value for m in MARKERS), (kind, el.value)
            if kind == "markdown" and "BOLDX" in el.value:
                assert not el.proto.allow_html
    for fig in figures(at):
        for s in _strings(fig):
            assert not any(m in s for m in MARKERS), s[:200]


def _message(at, kind: str, needle: str) -> str:
    """The first `kind` element containing `needle` (escapes undone), after the generic checks."""
    assert not at.exception, [e.value for e in at.exception]
    _no_raw_markup(at)
    shown = [_plain(el.value) for el in at.get(kind)]
    hits = [m for m in shown if needle in m]
    assert hits, f"no {kind} containing {needle!r}; {kind}: {shown}; errors: {[e.value for e in at.error]}"
    return hits[0]


def _main_figure(at, page: str) -> None:
    """The page renders its main figure without error or exception."""
    assert not at.exception, [e.value for e in at.exception]
    assert not at.error, [e.value for e in at.error]
    titles = [title_of(f) for f in figures(at)]
    assert titles and any(PAGES[page][2] in t for t in titles), (page, titles)


def _record(case: str, page: str, msg: str) -> None:
    RESULTS.append((case, page, msg.replace("\n", " ")))


# ---- images: upload each file, then a valid one ---------------------------------------------------------
@pytest.mark.parametrize("page,case,fname,data,kind,needle", IMAGE_CASES, ids=[f"{p}:{c}" for p, c, *_ in IMAGE_CASES])
def test_image_case(page, case, fname, data, kind, needle):
    at = _session(page)
    key = UPLOAD_KEY[page]
    if at.radio(key=f"{key}_src").value != "Upload":
        at.radio(key=f"{key}_src").set_value("Upload").run()
    at.file_uploader(key=f"{key}_file").set_value((fname, data, "image/png")).run()
    msg = _message(at, kind, needle)
    if kind == "error":
        assert not at.get("plotly_chart"), "the page stops before drawing on a refused image"
    else:
        _main_figure(at, page)  # accepted: converted and shown
    _record(case, page, msg)
    at.file_uploader(key=f"{key}_file").set_value(("valid.png", VALID_PNG, "image/png")).run()
    _main_figure(at, page)


def test_image_pages_back_to_samples():
    for page, key in UPLOAD_KEY.items():
        at = _session(page)
        at.radio(key=f"{key}_src").set_value("Sample").run()
        _main_figure(at, page)


# ---- typed text and uploaded text files -----------------------------------------------------------------
def _ticks(at) -> list[str]:
    fig = next(f for f in figures(at) if "Probabilities" in f["layout"].get("title", {}).get("text", ""))
    return fig["layout"]["xaxis"]["ticktext"]


def _set_text(at, key: str, text: str) -> None:
    widget = at.text_input(key=key) if key == "mk_mlm_text" else at.text_area(key=key)
    widget.input(text).run()


@pytest.mark.parametrize("page,case,key,text,kind,needle", TEXT_CASES, ids=[f"{p}:{c}" for p, c, *_ in TEXT_CASES])
def test_text_case(page, case, key, text, kind, needle):
    at = _session(page)
    _set_text(at, key, text)
    if kind:
        msg = _message(at, kind, needle)
    else:  # accepted: the page renders and the text reaches the model literally (escaped in labels)
        _main_figure(at, page)
        _no_raw_markup(at)
        if key == "attn_text":
            ticks = _ticks(at)
            assert any(needle in t for t in ticks), ticks
            msg = f"accepted; tokens {' '.join(ticks[1:8])}"
        else:
            msg = "accepted; shown escaped"
    _record(case, page, msg)
    _set_text(at, key, VALID_FOR[key])
    _main_figure(at, page)


@pytest.mark.parametrize("case,fname,data,kind,needle", UPLOAD_CASES, ids=[c for c, *_ in UPLOAD_CASES])
def test_text_upload_case(case, fname, data, kind, needle):
    page = "attention/text"
    at = _session(page)
    at.file_uploader(key="attn_upload").set_value((fname, data, "text/plain")).run()
    if kind:
        msg = _message(at, kind, needle)
        at.run()  # any interaction brings the text area back, with the previous text
    else:
        _main_figure(at, page)
        value = at.text_area(key="attn_text").value
        assert value.startswith(needle), value
        msg = f"accepted; text = {value[:40]!r}"
    _record(case, page, msg)
    at.text_area(key="attn_text").input(VALID_TEXT).run()
    _main_figure(at, page)


# ---- model names and folders typed into the sidebar's "Add a model" --------------------------------------
@pytest.fixture(scope="module")
def folders(tmp_path_factory):
    return make_model_folders(tmp_path_factory.mktemp("models"))


@pytest.mark.parametrize("case,name,needle", MODEL_CASES, ids=[c for c, *_ in MODEL_CASES])
def test_model_case(folders, case, name, needle):
    paths, marker = folders
    page = "sidebar/model"
    at = _session(page)
    at.text_input(key="custom_model_path").input(paths[case] if name is None else name).run()
    at.button(key="custom_model_load").click().run()
    msg = _message(at, "error", needle)
    assert not os.path.exists(marker), "a checkpoint's pickled code ran"
    assert at.session_state["model_text"] == "minilm-l6"  # the choice is unchanged
    _record(case, page, msg)
    at.run()  # the message goes; the page is unchanged and usable
    _main_figure(at, page)


def test_valid_folder_after_bad_ones(folders):
    """After all that, the same session loads a real HF folder from the sidebar and uses it."""
    page = "sidebar/model"
    at = _session(page)
    path = str(minilm_folder())
    at.text_input(key="custom_model_path").input(path).run()
    at.button(key="custom_model_load").click().run()
    assert any("as a text model" in _plain(s.value) for s in at.success), [s.value for s in at.success]
    assert at.session_state["model_text"] == path
    _main_figure(at, page)
    assert not os.path.exists(folders[1])


def test_corpus_size_and_spread():
    pages = (
        [p for p, *_ in IMAGE_CASES]
        + [p for p, *_ in TEXT_CASES]
        + ["attention/text"] * len(UPLOAD_CASES)
        + ["sidebar/model"] * len(MODEL_CASES)
    )
    per = _per_page(pages)
    assert len(pages) >= 40 and set(per) == {"attention", "masking", "mae", "swin", "variants", "sidebar"}
    assert min(per.values()) >= 4, per
