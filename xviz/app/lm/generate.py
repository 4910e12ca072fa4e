"""Language-model page: the Generate tab (greedy / sampling / beam search, attention rows, the KV cache and its
measured cost) and the Compare tab (two prompts, or two decoding settings)."""

from __future__ import annotations

import numpy as np
import streamlit as st

from xviz.analysis.lm_decode import MAX_NEW_TOKENS, Decoding, cache_bytes
from xviz.analysis.lm_next import kl_divergence
from xviz.app import widgets
from xviz.app.lm import cache
from xviz.app.lm.common import Ctx, export
from xviz.app.widgets import Q
from xviz.plots import lm as lm_plots

STRATEGIES = {"Greedy": "greedy", "Sampling (temperature / top-k / top-p)": "sample", "Beam search": "beam"}
DEFAULT_B = "The capital of Germany is"


def decoding_controls(key: str) -> Decoding:
    """Strategy radio and its settings (in the URL under `key`_…); max new tokens is clamped to MAX_NEW_TOKENS
    with a message."""
    label = st.radio("Strategy", list(STRATEGIES), key=f"{key}_strategy", horizontal=True, bind=Q)
    strategy = STRATEGIES[label]
    c = st.columns(4)
    asked = int(c[0].number_input("Max new tokens", 1, 512, 12, key=f"{key}_max", bind=Q))
    if asked > MAX_NEW_TOKENS:
        st.warning(
            f"At most {MAX_NEW_TOKENS} new tokens on this page (every step is a forward on this device); "
            f"generating {MAX_NEW_TOKENS}."
        )
    d = dict(strategy=strategy, max_new_tokens=min(asked, MAX_NEW_TOKENS))
    if strategy == "sample":
        d["temperature"] = float(c[1].slider("Temperature", 0.05, 2.0, 1.0, 0.05, key=f"{key}_temp", bind=Q))
        d["top_k"] = int(c[2].number_input("Top-k (0 = off)", 0, 1000, 50, key=f"{key}_topk", bind=Q))
        d["top_p"] = float(c[3].slider("Top-p (1 = off)", 0.05, 1.0, 0.9, 0.05, key=f"{key}_topp", bind=Q))
        d["seed"] = int(st.number_input("Seed", 0, 2**31 - 1, 0, key=f"{key}_seed", bind=Q))
    elif strategy == "beam":
        d["num_beams"] = int(c[1].number_input("Beams", 1, 8, 3, key=f"{key}_beams", bind=Q))
        d["length_penalty"] = float(
            c[2].slider(
                "Length penalty α",
                -2.0,
                3.0,
                1.0,
                0.1,
                key=f"{key}_alpha",
                bind=Q,
                help="Final score = Σ log p / len^α (as transformers does).",
            )
        )
        d["early_stopping"] = bool(c[3].toggle("Early stopping", False, key=f"{key}_early", bind=Q))
    return Decoding(**d)


def generate_tab(ctx: Ctx) -> None:
    d = decoding_controls("lm_gen")
    if d.strategy == "beam":
        _beam(ctx, d)
        return
    gen = cache.generate(ctx.name, ctx.device, ctx.ids, cache.decoding_tuple(d))
    new = cache.decode(ctx.name, ctx.device, tuple(gen.tokens))
    st.markdown(f"**Output** ({len(new)} tokens, stopped at {gen.stopped.replace('_', ' ')}):")
    st.code(ctx.prompt + "".join(new), language=None, wrap_lines=True)
    _step_table(ctx, gen, new)
    _attention_rows(ctx, gen, new)
    _kv_cache(ctx, gen)
    export(
        {
            "tokens": gen.tokens,
            "probs": [s.prob for s in gen.steps],
            "attention_rows_last_step": gen.steps[-1].attn if gen.steps and gen.steps[-1].attn is not None else [],
        },
        ctx,
        "generate",
        "lm_gen_rec",
        decoding=cache.decoding_tuple(d),
    )


def _step_table(ctx: Ctx, gen, new) -> None:
    rows = []
    for i, (s, t) in enumerate(zip(gen.steps, new)):
        alts = cache.decode(ctx.name, ctx.device, tuple(s.top_ids))
        rows.append(
            {
                "step": i,
                "token": repr(t),
                "p": round(s.prob, 4),
                "candidates": s.candidates,
                "top 5": "  ".join(f"{a!r} {p:.2f}" for a, p in zip(alts, s.top_probs)),
                "KV cache per layer (B, Hkv, t, D)": str(s.cache_shape),
                "ms": round(s.ms, 1),
            }
        )
    st.dataframe(rows, hide_index=True, width="stretch")
    st.caption(
        "p is the chosen token's probability under the distribution it was drawn from (after temperature, "
        "top-k, top-p); candidates = tokens left after filtering. Step 0 runs the whole prompt (prefill); "
        "later steps feed only the new token."
    )


def _attention_rows(ctx: Ctx, gen, new) -> None:
    """Each new token's attention row as a step × key map, for one layer (one head or the mean over heads)."""
    if not gen.steps or gen.steps[0].attn is None:
        return
    c1, c2 = st.columns(2)
    heads = ["mean"] + list(range(ctx.num_heads))
    if st.session_state.get("lm_gen_layer", 0) > ctx.num_layers - 1:  # left over from a deeper model
        st.session_state["lm_gen_layer"] = ctx.num_layers - 1
    if st.session_state.get("lm_gen_head", "mean") not in heads:
        st.session_state["lm_gen_head"] = "mean"
    layer = int(c1.number_input("Layer", 0, ctx.num_layers - 1, ctx.num_layers - 1, key="lm_gen_layer", bind=Q))
    head = c2.selectbox("Head", heads, key="lm_gen_head", bind=Q)
    t_max = gen.steps[-1].attn.shape[-1]
    rows = np.zeros((len(gen.steps), t_max), dtype=np.float32)  # (steps, keys), 0 = not there yet
    for i, s in enumerate(gen.steps):
        a = s.attn[layer]  # (H, t)
        row = a.mean(0) if head == "mean" else a[int(head)]
        rows[i, : row.shape[0]] = row.numpy()
    keys = list(ctx.tokens) + list(new[:-1])
    queries = [ctx.tokens[-1]] + list(new[:-1])  # the query that produced step i is the token fed at step i
    fig = lm_plots.attention_rows(
        rows,
        keys[:t_max],
        [f"{i}:{q}" for i, q in enumerate(queries)],
        f"Attention row of each step's query — layer {layer}, head {head}",
    )
    widgets.figure(fig, key="lm_gen_attn")


def _kv_cache(ctx: Ctx, gen) -> None:
    st.markdown(
        "**KV cache.** With the cache, step t computes q, k, v of the new token only and appends k, v "
        "(per KV head, shape (B, Hkv, t, D)) to every layer; without it every step recomputes all t "
        "positions."
    )
    last = gen.steps[-1].cache_shape if gen.steps else None
    if last:
        st.caption(
            f"After the last step: {ctx.num_layers} layers × K and V of {last} = "
            f"{cache_bytes(last, ctx.num_layers) / 2**20:.2f} MiB in float32."
        )
    steps = min(len(gen.steps), 16)
    if st.toggle(f"Measure {steps} greedy steps with vs without the cache", key="lm_gen_time"):
        t = cache.cache_timing(ctx.name, ctx.device, ctx.ids, steps)
        widgets.figure(lm_plots.cache_timing(t.with_cache_ms, t.without_cache_ms), key="lm_gen_timing")
        w, wo = sum(t.with_cache_ms[1:]), sum(t.without_cache_ms[1:])
        st.caption(
            f"Decoding steps after the prompt: {w:.0f} ms with the cache, {wo:.0f} ms without "
            f"({wo / max(w, 1e-9):.1f}×); same tokens: {t.same_tokens}. Wall time on {ctx.device}, "
            "shared with other sessions."
        )


def _beam(ctx: Ctx, d: Decoding) -> None:
    res = cache.beam(ctx.name, ctx.device, ctx.ids, cache.decoding_tuple(d))
    uniq = tuple(sorted({n.token for n in res.nodes}))
    labels = dict(zip(uniq, cache.decode(ctx.name, ctx.device, uniq)))
    finals = {node for _, _, node in res.beams}
    widgets.figure(
        lm_plots.beam_tree(res.nodes, labels, finals),
        key="lm_beam_tree",
        caption=f"{res.steps} steps, {len(res.nodes)} candidates scored (2·W per step, W = {d.num_beams}). "
        "Red: the final beams' paths; green: finished (eos or length limit); blue: continued.",
    )
    rows = [
        {
            "rank": i,
            "text": "".join(cache.decode(ctx.name, ctx.device, tuple(toks))),
            "Σ log p / len^α": round(score, 4),
            "tokens": len(toks),
        }
        for i, (toks, score, _) in enumerate(res.beams)
    ]
    st.dataframe(rows, hide_index=True, width="stretch")
    if res.cache_shapes:
        st.caption(
            f"KV cache per layer: {res.cache_shapes[0]} after the first step → {res.cache_shapes[-1]} "
            "(one row per beam, reordered to follow the surviving beams at every step)."
        )
    export(
        {
            "beam_scores": [s for _, s, _ in res.beams],
            "tree": [[n.id, n.step, n.parent, n.token, n.score] for n in res.nodes],
        },
        ctx,
        "beam",
        "lm_beam_rec",
        decoding=cache.decoding_tuple(d),
    )


# ---- Compare ----------------------------------------------------------------------------------------------------
def compare_tab(ctx: Ctx) -> None:
    mode = st.radio("Compare", ["Two prompts", "Two decoding settings"], key="lm_cmp_mode", horizontal=True, bind=Q)
    if mode == "Two prompts":
        _two_prompts(ctx)
    else:
        _two_settings(ctx)


def _two_prompts(ctx: Ctx) -> None:
    st.session_state.setdefault("lm_prompt_b", DEFAULT_B)
    text_b = st.text_area("Prompt B (A is the prompt above)", key="lm_prompt_b", height=68, bind=Q)
    if not text_b.strip():
        st.info("Type a second prompt to compare.")
        return
    ids_b, _, truncated = cache.tokenize(ctx.name, ctx.device, text_b)
    if truncated:
        st.warning(f"Prompt B was cut to {cache.prompt_limit(ctx.name, ctx.device):,} tokens.")
    a = cache.next_token(ctx.name, ctx.device, ctx.ids, 10)
    b = cache.next_token(ctx.name, ctx.device, ids_b, 10)
    union = list(dict.fromkeys(a.ids + b.ids))  # A's top 10, then B's new ones
    pa, pb = a.logprobs[union].exp().tolist(), b.logprobs[union].exp().tolist()
    toks = cache.decode(ctx.name, ctx.device, tuple(union))
    widgets.figure(
        lm_plots.compare_bars(toks, pa, pb, ("A", "B"), "Next token: prompt A vs prompt B"), key="lm_cmp_fig"
    )

    st.caption(
        f"KL(A ‖ B) = {kl_divergence(a.logprobs, b.logprobs):.3f} nats over the whole vocabulary; "
        f"top tokens A {widgets.literal(repr(toks[0]))}, "
        f"B {widgets.literal(repr(cache.decode(ctx.name, ctx.device, (b.ids[0],))[0]))}."
    )


def _two_settings(ctx: Ctx) -> None:
    cols = st.columns(2)
    gens = []
    for col, side in zip(cols, ("A", "B")):
        with col:
            st.markdown(f"**Setting {side}**")
            d = decoding_controls(f"lm_cmp_{side}")
            if d.strategy == "beam":
                res = cache.beam(ctx.name, ctx.device, ctx.ids, cache.decoding_tuple(d))
                toks, probs = (res.beams[0][0], None) if res.beams else ([], None)
            else:
                g = cache.generate(ctx.name, ctx.device, ctx.ids, cache.decoding_tuple(d))
                toks, probs = g.tokens, [s.prob for s in g.steps]
            text = cache.decode(ctx.name, ctx.device, tuple(toks))
            st.code(ctx.prompt + "".join(text), language=None, wrap_lines=True)
            gens.append((toks, text, probs))
    (ta, xa, _), (tb, xb, _) = gens
    same = next((i for i, (p, q) in enumerate(zip(ta, tb)) if p != q), min(len(ta), len(tb)))
    if ta == tb:
        st.success("Both settings produce the same tokens.")
    else:
        at = [repr(x[same]) if same < len(x) else "(end)" for x in (xa, xb)]
        st.info(
            f"The outputs agree on the first {same} tokens and diverge at step {same}: "
            f"A {widgets.literal(at[0])} vs B {widgets.literal(at[1])}."
        )
