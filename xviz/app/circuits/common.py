"""Shared state of the Circuits page: the model, the prompt pairs (presets or typed) and the cached computations,
keyed on plain values (model name, device, token-id tuples, settings). The shared model is only read: every
intervention goes through context-scoped `edits`, gradients through `torch.autograd.grad`."""

from __future__ import annotations

import time
from dataclasses import dataclass

import streamlit as st
import torch

from xviz.analysis import attribution, attribution_patching, circuits, info_flow, lm_heads, patching
from xviz.analysis.circuit_inputs import PromptPairs, prompt_pairs
from xviz.app import state, widgets
from xviz.app.widgets import Q
from xviz.errors import InputError
from xviz.hooks import Recording

MAX_TOKENS = 48  # patching runs one forward row per cell: 30 layers × 48 positions is 1440 rows
IOI_TEMPLATE = "When {a} and {b} went to the store, {s} gave a drink to"
IOI_NAMES = [("Mary", "John"), ("Alice", "Bob"), ("Sarah", "Tom"), ("Anna", "James"), ("Emma", "David"),
             ("Lisa", "Mark"), ("Kate", "Paul"), ("Laura", "Peter")]  # fmt: skip
FACT_TEMPLATE = "The capital of {c} is"
FACTS = [("France", " Paris"), ("Italy", " Rome"), ("Germany", " Berlin"), ("Japan", " Tokyo"), ("Spain", " Madrid"),
         ("Egypt", " Cairo"), ("Russia", " Moscow"), ("China", " Beijing"), ("France", " Paris")]  # fmt: skip
TYPED_DEFAULT = (IOI_TEMPLATE.format(a="Mary", b="John", s="John"), IOI_TEMPLATE.format(a="Mary", b="John", s="Mary"),
                 " Mary", " John")  # fmt: skip
PRESETS = ["IOI (names swapped)", "Factual recall (subject swapped)", "Typed"]


def _model(name: str, device: str):
    return state.load_model_cached(name, device)


@dataclass(frozen=True)
class Ctx:
    name: str
    device: str
    key: tuple  # (clean ids, corrupt ids, answers, wrongs): tuples of ints, the cache key of every computation
    texts: tuple  # ((clean, corrupt, answer, wrong), …) as typed / generated
    tokens: tuple[str, ...]  # the first clean prompt's tokens
    corrupt_tokens: tuple[str, ...]
    num_layers: int
    num_heads: int
    num_kv_heads: int

    @property
    def num_pairs(self) -> int:
        return len(self.key[0])

    def pairs(self) -> PromptPairs:
        return PromptPairs(*(torch.tensor(k) for k in self.key))


def load_model():
    """(model, name) of the sidebar's language model; a model that is not a causal LM stops the page."""
    name = state.model_name("lm") or "smollm2-135m"
    model = state.get_model_named(name)
    if model.kind != "lm" or not model.has_lens:
        st.error(f"{widgets.literal(name)} has no unembedding (kind {model.kind!r}): this page needs a causal LM.")
        st.stop()
    return model, name


def _single(model, text: str) -> bool:
    return len(model.prepare(text, add_special_tokens=False)["input_ids"][0]) == 1


@st.cache_data(max_entries=16, show_spinner=False)
def preset_texts(name: str, device: str, preset: str, n: int) -> tuple:
    """Up to n (clean, corrupt, answer, wrong) of a preset whose names / answers are single tokens here."""
    model, out = _model(name, device), []
    if preset == PRESETS[0]:  # IOI: the second mention swapped, so the indirect object changes
        for a, b in IOI_NAMES:
            if _single(model, f" {a}") and _single(model, f" {b}"):
                clean, corrupt = IOI_TEMPLATE.format(a=a, b=b, s=b), IOI_TEMPLATE.format(a=a, b=b, s=a)
                out.append((clean, corrupt, f" {a}", f" {b}"))
    else:  # factual recall: the subject swapped for the next country, its capital becomes the wrong answer
        for (c, ans), (c2, wrong) in zip(FACTS, FACTS[1:]):
            if _single(model, ans) and _single(model, wrong):
                out.append((FACT_TEMPLATE.format(c=c), FACT_TEMPLATE.format(c=c2), ans, wrong))
    return tuple(out[:n])


@st.cache_data(max_entries=64, show_spinner=False)
def tokenize_pairs(name: str, device: str, texts: tuple) -> tuple:
    """Validated ids (clean, corrupt, answers, wrongs) as tuples; an InputError says what is wrong."""
    model = _model(name, device)
    cl, co, an, wr = (list(col) for col in zip(*texts))
    p = prompt_pairs(model, cl, co, an, wr)
    if p.num_tokens > MAX_TOKENS:
        raise InputError(
            f"The prompts are {p.num_tokens} tokens; this page patches at most {MAX_TOKENS} (one run per layer "
            "and position). Shorten them."
        )
    return (tuple(map(tuple, p.clean.tolist())), tuple(map(tuple, p.corrupt.tolist())), tuple(p.answer.tolist()),
            tuple(p.wrong.tolist()))  # fmt: skip


def inputs(model, name: str) -> Ctx:
    """The prompt-pair widgets → a validated Ctx (errors raise InputError, shown by the view's user_errors)."""
    device = str(state.device())
    preset = st.radio("Prompt pair", PRESETS, key="ci_preset", horizontal=True, bind=Q)
    if preset == "Typed":
        first = preset_texts(name, device, PRESETS[0], 1) or (TYPED_DEFAULT,)
        for k, v in zip(("ci_clean", "ci_corrupt", "ci_answer", "ci_wrong"), first[0]):
            st.session_state.setdefault(k, v)
        c1, c2 = st.columns(2)
        clean = c1.text_input("Clean prompt", key="ci_clean", bind=Q)
        corrupt = c2.text_input("Corrupted prompt (same number of tokens)", key="ci_corrupt", bind=Q)
        c3, c4, _ = st.columns([1, 1, 2])
        answer = c3.text_input("Answer (one token)", key="ci_answer", bind=Q)
        wrong = c4.text_input("Wrong answer (one token)", key="ci_wrong", bind=Q)
        texts = ((clean, corrupt, answer, wrong),)
    else:
        n = st.slider(
            "Prompt pairs (several: a mean and a 95 % interval per cell; each pair costs one more sweep)",
            1,
            8,
            1,
            key="ci_pairs",
            bind=Q,
        )
        texts = preset_texts(name, device, preset, n)
        if not texts:
            raise InputError(
                "This model's tokenizer splits every name or answer of this preset into several tokens: pick "
                "“Typed” and type a pair whose answers are single tokens."
            )
        with st.expander(f"The {len(texts)} prompt pair(s)", expanded=False):
            st.dataframe(
                {k: [t[i] for t in texts] for i, k in enumerate(("clean", "corrupted", "answer", "wrong"))},
                hide_index=True,
            )
    key = tokenize_pairs(name, device, texts)
    tokens = tuple(model.decode(list(key[0][0])))
    st.caption(
        f"**{widgets.literal(name)}** · {len(tokens)} tokens · {model.num_layers} layers × {model.num_heads} heads "
        f"({model.num_kv_heads} KV heads) · metric: logit of {widgets.literal(repr(texts[0][2]))} − logit of "
        f"{widgets.literal(repr(texts[0][3]))} at the last position · {device}"
    )
    return Ctx(name, device, key, texts, tokens, tuple(model.decode(list(key[1][0]))), model.num_layers,
               model.num_heads, model.num_kv_heads)  # fmt: skip


def export(tensors: dict, ctx: Ctx, what: str, key: str, **meta) -> None:
    """The numbers behind a view as .npz + .json (model, prompts, ids, device, settings)."""
    rec = Recording(
        {k: torch.as_tensor(v) for k, v in tensors.items()},
        dict(model=ctx.name, prompts=[list(t) for t in ctx.texts], input_ids=[list(r) for r in ctx.key[0]],
             corrupt_ids=[list(r) for r in ctx.key[1]], device=ctx.device, dtype="float32", view=what, **meta),
    )  # fmt: skip
    widgets.recording_downloads(rec, f"{ctx.name}-{what}", key)


def _bar(what: str):
    bar = st.progress(0.0, text=what)
    return bar, (lambda f, msg: bar.progress(float(min(max(f, 0.0), 1.0)), text=msg))


# ---- cached computations ---------------------------------------------------------------------------------------
@st.cache_data(max_entries=32, show_spinner=False)
def sweep(name: str, device: str, key: tuple, site: str) -> patching.PatchResult:
    """Real activation patching of every cell of `site`, batched; the progress bar replays full on a hit."""
    bar, progress = _bar(f"Patching {site}…")
    t0 = time.perf_counter()
    pairs = PromptPairs(*(torch.tensor(k) for k in key))
    res = patching.sweep(_model(name, device), pairs, site, progress=progress)
    cells = res.values[0].numel()
    bar.progress(
        1.0, text=f"Patched {site}: {cells} cells × {pairs.num_pairs} pair(s) in {time.perf_counter() - t0:.1f} s"
    )
    return res


@st.cache_data(max_entries=32, show_spinner=False)
def attribution_sweep(name: str, device: str, key: tuple, site: str) -> patching.PatchResult:
    bar, progress = _bar("Attribution patching…")
    t0 = time.perf_counter()
    pairs = PromptPairs(*(torch.tensor(k) for k in key))
    res = attribution_patching.attribution_sweep(_model(name, device), pairs, site, progress)
    bar.progress(
        1.0, text=f"Attribution patching of {site}: one forward + one backward in {time.perf_counter() - t0:.1f} s"
    )
    return res


@st.cache_data(max_entries=16, show_spinner=False)
def faithfulness(name: str, device: str, key: tuple, scores: tuple, max_k: int):
    bar, progress = _bar("Re-patching the top heads together…")
    pairs = PromptPairs(*(torch.tensor(k) for k in key))
    res = attribution_patching.faithfulness(_model(name, device), pairs, torch.tensor(scores), max_k, progress)
    bar.empty()
    return res


@st.cache_data(max_entries=32, show_spinner="Splitting the logit difference into parts…")
def dla(name: str, device: str, ids: tuple, answer: int, wrong: int) -> attribution.LogitAttribution:
    return attribution.logit_attribution(_model(name, device), torch.tensor(ids), answer, wrong)


@st.cache_data(max_entries=32, show_spinner="Reading the head…")
def head_view(name: str, device: str, ids: tuple, layer: int, head: int, answer: int, wrong: int):
    return attribution.head_view(_model(name, device), torch.tensor(ids), layer, head, answer, wrong)


@st.cache_data(max_entries=16, show_spinner=False)
def flow(name: str, device: str, ids: tuple) -> info_flow.InfoFlow:
    bar, progress = _bar("Splitting every attention output by source position…")
    res = info_flow.information_flow(_model(name, device), torch.tensor(ids), progress=progress)
    bar.empty()
    return res


@st.cache_data(max_entries=64, show_spinner=False)
def decode(name: str, device: str, ids: tuple) -> tuple[str, ...]:
    return tuple(_model(name, device).decode(list(ids)))


@st.cache_data(max_entries=8, show_spinner="Scoring every head on repeated random tokens…")
def head_scores(name: str, device: str, copy_len: int = 40) -> dict:
    """Induction / previous-token / duplicate / sink scores (Language-model page's definitions) per head."""
    model = _model(name, device)
    bos, vocab = model.bos_token_id, model.vocab_size
    low = min(1000, vocab // 4)
    ids = lm_heads.repeated_random(
        copy_len, low, max(min(20000, vocab - 1), low + 2), 0, [bos] if bos is not None else None
    )
    return lm_heads.model_head_scores(model, ids)


@st.cache_data(max_entries=32, show_spinner=False)
def composition_into(name: str, device: str, layer: int, head: int, mode: str):
    return circuits.composition_into(_model(name, device), layer, head, mode)


@st.cache_data(max_entries=4, show_spinner=False)
def composition_all(name: str, device: str, mode: str):
    bar, progress = _bar("Composition scores of every pair of heads…")
    res = circuits.composition_scores(_model(name, device), mode, progress)
    bar.empty()
    return res


@st.cache_data(max_entries=4, show_spinner="Embedding × unembedding, once per model…")
def token_gram(name: str, device: str) -> torch.Tensor:
    return circuits.token_gram(_model(name, device))


@st.cache_data(max_entries=32, show_spinner="Reading the head's weights…")
def head_circuits(name: str, device: str, layer: int, head: int, ids: tuple) -> dict:
    model, gram = _model(name, device), token_gram(name, device)
    src = sorted(set(ids))
    return dict(
        spectra=circuits.spectra(model, layer, head),
        ov=circuits.ov_table(model, layer, head, src),
        qk=circuits.qk_table(model, layer, head, src),
        copying=circuits.copying_scores(model, layer, gram),
    )
