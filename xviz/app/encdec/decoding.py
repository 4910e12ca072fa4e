"""Encoder–decoder page, second half: decoding step by step, exposure bias + scheduled sampling, AT vs NAT,
BLEU / exact match over generated test inputs."""

from __future__ import annotations

import pandas as pd
import plotly.graph_objects as go
import streamlit as st

from xviz.analysis import encdec
from xviz.app import state
from xviz.app.encdec.common import Ctx, cached_encdec_run
from xviz.app.widgets import Q, figure, literal
from xviz.data import seq2seq_tasks as tasks
from xviz.models import seq2seq_decode as decode
from xviz.plots import encdec as encdec_plots
from xviz.plots.style import base_layout


@st.cache_resource(max_entries=32, show_spinner="Decoding…")
def cached_trace(
    name: str, device: str, source: str, task: str, strategy: str, beams: int, temp: float, seed: int
) -> decode.Trace:
    return decode.trace(state.load_model_cached(name, device), source, task, strategy, beams, temp, seed)


def decoding_section(c: Ctx) -> None:
    a, b, cc, d = st.columns(4)
    strategy = a.radio("Strategy", decode.STRATEGIES, key="ed_strategy", horizontal=True, bind=Q)
    temp = b.slider("Temperature", 0.1, 3.0, 1.0, 0.1, key="ed_temp", disabled=strategy != "sample", bind=Q)
    seed = int(cc.number_input("Seed", 0, 1_000_000, 0, key="ed_seed", disabled=strategy != "sample", bind=Q))
    beams = int(d.slider("Beams", 1, 8, 3, key="ed_beams", disabled=strategy != "beam", bind=Q))
    tr = cached_trace(c.name, str(state.device()), c.source, c.task, strategy, beams, temp, seed)
    ref, _ = tasks.reference(c.task, c.source)
    verdict = "" if ref is None else (" — correct" if tr.text == ref.target else f" — expected {literal(ref.target)}")
    st.markdown(f"Output: **{literal(tr.text)}**{verdict} · {len(tr.ids)} steps · log-probability {tr.score:.3f}")
    if not tr.steps:
        st.info("The model ended immediately (<eos> first): nothing to step through.")
        return
    _clamp("ed_step", 1, len(tr.steps))
    step = st.slider("Step", 1, len(tr.steps), 1, key="ed_step", bind=Q) - 1 if len(tr.steps) > 1 else 0
    s = tr.steps[step]
    src_tokens = c.model.decode(c.model.source_ids(c.source, c.task))
    prefix = tasks.decode_ids(tr.ids[:step]) or "<bos>"
    figure(
        encdec_plots.step_figure(
            src_tokens,
            s.cross[-1].mean(0),
            c.model.decode(s.topk_ids),
            s.topk_probs,
            f"Step {step + 1}: after “{prefix}” the model writes “{c.model.decode([s.token])[0]}”",
        ),
        "ed_stepfig",
        caption="Left: the last decoder layer's cross-attention row of this step (mean of heads). "
        "Right: the next-token distribution it was drawn from (after temperature when "
        "sampling; beam search shows the distribution along the best hypothesis).",
    )
    rows = [
        {
            "step": i + 1,
            "token": c.model.decode([x.token])[0],
            "p(token)": _p(x),
            "top-3": ", ".join(f"{t} {p:.2f}" for t, p in zip(c.model.decode(x.topk_ids[:3]), x.topk_probs)),
        }
        for i, x in enumerate(tr.steps)
    ]
    st.dataframe(pd.DataFrame(rows), hide_index=True, height=min(400, 36 * len(rows) + 40))
    if strategy == "beam":
        best = decode.best_path(tr)
        figure(
            encdec_plots.beam_tree_figure(tr.tree, c.model.decode, best, f"Beam search tree ({beams} beams)"),
            "ed_tree",
            caption="Each step expands every live beam and keeps the best `beams` prefixes by summed "
            "log-probability (blue); grey ones were pruned; green ones ended with <eos>. Orange "
            "rings: the returned hypothesis. With 1 beam this is exactly greedy decoding.",
        )


def _clamp(key: str, lo: int, hi: int) -> None:
    """A slider kept in session state from a longer output must stay inside the new range."""
    if key in st.session_state and not lo <= st.session_state[key] <= hi:
        st.session_state[key] = lo


def _p(x: decode.StepInfo) -> float:
    return round(x.topk_probs[x.topk_ids.index(x.token)], 4) if x.token in x.topk_ids else float("nan")


def exposure_section(c: Ctx) -> None:
    run = cached_encdec_run(c.name, str(state.device()), c.source, c.task, None, False)
    gold = run.reference.target if run.reference is not None else run.target
    if len(gold) < 2:
        st.info("The target needs at least two characters to inject a mistake before its end.")
        return
    st.markdown(
        "**Teacher forcing** (training) feeds the decoder the *true* previous characters; **free "
        "running** (inference) feeds it its *own*. Inject one wrong character into the target and "
        "compare: teacher forcing goes back to the truth at the next position, free running has to "
        "continue from its mistake (exposure bias)."
    )
    a, b = st.columns(2)
    _clamp("ed_mpos", 0, len(gold) - 1)
    pos = int(a.slider("Mistake at target position", 0, len(gold) - 1, min(2, len(gold) - 1), key="ed_mpos", bind=Q))
    default = "x" if gold[pos] != "x" else "y"
    wrong = b.text_input("Wrong character", default, max_chars=1, key="ed_wrong", bind=Q) or default
    tasks.encode_chars(wrong)
    eb = encdec.exposure_bias(c.model, c.source, c.task, gold, pos, wrong)
    mistaken = gold[:pos] + wrong + gold[pos + 1 :]
    err = "errors after the mistake"
    st.dataframe(
        pd.DataFrame(
            [
                {"": "ground truth", "sequence": gold, err: ""},
                {"": "decoder input with the mistake", "sequence": mistaken, err: ""},
                {"": "teacher forcing: predictions", "sequence": eb.forced_pred, err: str(eb.forced_errors)},
                {"": "free running from the mistake", "sequence": eb.free_run, err: str(eb.free_errors)},
            ]
        ),
        hide_index=True,
    )
    scheduled_sampling(c, gold)


def scheduled_sampling(c: Ctx, gold: str) -> None:
    st.subheader("Scheduled sampling (Bengio et al. 2015)")
    k = st.slider("Decay k of ε_i = k / (k + exp(i / k))", 10, 1000, 200, 10, key="ed_ssk", bind=Q)
    steps = list(range(0, 8 * k + 1, max(1, k // 25)))
    fig = go.Figure(go.Scatter(x=steps, y=[encdec.inverse_sigmoid(i, k) for i in steps], name="inverse sigmoid"))
    fig.add_trace(go.Scatter(x=steps, y=[max(0.0, 1 - i / (8 * k)) for i in steps], name="linear"))
    fig.add_trace(go.Scatter(x=steps, y=[0.999**i for i in steps], name="exponential 0.999^i"))
    fig.update_layout(**base_layout("ε_i: probability of feeding the ground truth at training step i", 300))
    figure(fig, "ed_ss_curve")
    eps = st.slider("ε (share fed from the ground truth)", 0.0, 1.0, 0.5, 0.05, key="ed_eps", bind=Q)
    mix = encdec.mix_table(c.model, c.source, c.task, gold, eps, seed=0)
    st.dataframe(
        pd.DataFrame(
            {
                "ground truth": mix["gold"],
                "model's prediction": mix["pred"],
                "fed to the decoder": mix["mixed"],
                "from the model": ["yes" if f else "" for f in mix["from_model"]],
            }
        ).T.astype(str),
        height=200,
    )
    if mix["pred"][1:] == mix["gold"][1:]:
        st.info(
            "Here the model's predictions equal the ground truth at every position, so the mix changes "
            "nothing: scheduled sampling only matters while the model still errs (early in training), or on "
            "the exposure-bias input above."
        )
    st.caption(
        "Per position, the decoder is fed the ground truth with probability ε, else the model's own "
        "prediction from a teacher-forced pass (the two-pass form). seq2seq-tiny was trained with teacher "
        "forcing only (its ε stayed 1): on these deterministic tasks its error rate is too low for exposure "
        "bias to cost accuracy."
    )


def nat_section(c: Ctx) -> None:
    rows = encdec.at_vs_nat(c.model, c.source, c.task)
    fmt = {"ms": "{:.1f}", "length confidence": "{:.2f}"}
    table = {m: {k: (fmt[k].format(v) if k in fmt else str(v)) for k, v in r.items()} for m, r in rows.items()}
    st.dataframe(pd.DataFrame(table).T.fillna("–"), height=110)
    st.caption(
        "AT: one decoder pass per output character (plus <eos>). NAT (Gu et al. 2018): the length "
        "head predicts the number of characters from the pooled encoder output, then every position is "
        "decoded at once, each independently of the others. Independence is NAT's weakness: two "
        "positions can pick the same source character (a repeat) and none may pick another (a missing "
        "one); a wrong length shifts everything. Times are medians of 5 runs on this device."
    )
    wrong = _nat_failures(c, 200)
    if wrong:
        st.markdown(
            f"**Where NAT fails** ({len(wrong)} of 200 held-out `{c.task}` inputs; pick one as the source "
            "to see its maps):"
        )
        st.dataframe(pd.DataFrame(wrong[:8]), hide_index=True)
    left, right = st.columns(2)
    for col, nat, title in ((left, False, "AT"), (right, True, "NAT")):
        with col:
            run = cached_encdec_run(c.name, str(state.device()), c.source, c.task, None, nat)
            p = run.rec[
                f"{'nat_decoder' if nat else 'decoder'}.blocks.{c.model.cfg.decoder_layers - 1}.cross_attn.hook_probs"
            ][0].mean(0)
            y = "output position" if nat else "decoder input (predicts the next)"
            figure(
                encdec_plots.attention_map(
                    p,
                    run.src_tokens,
                    run.tgt_tokens,
                    f"{title}: last layer cross-attention (mean of heads)",
                    run.align,
                    y_title=y,
                ),
                f"ed_nat_{title}",
            )


@st.cache_data(max_entries=16, show_spinner="Generating test inputs and decoding them…")
def cached_bleu(name: str, device: str, task: str, n: int) -> dict:
    out = encdec.bleu_eval(state.load_model_cached(name, device), task, n)
    out["examples"] = [(e.source, e.target) for e in out["examples"]]
    return out


def _nat_failures(c: Ctx, n: int) -> list[dict]:
    r = cached_bleu(c.name, str(state.device()), c.task, n)
    out = []
    for (src, ref), at, nat in zip(r["examples"], r["AT"]["hyps"], r["NAT"]["hyps"]):
        if nat != ref:
            marks = encdec.diff_marks(nat, ref)
            out.append(
                {
                    "source": src,
                    "reference": ref,
                    "NAT": nat,
                    "AT": at,
                    "repeats": marks["repeats"],
                    "missing": marks["missing"],
                    "length error": marks["length_diff"],
                }
            )
    return out


def bleu_section(c: Ctx) -> None:
    n = int(st.select_slider("Test inputs", [20, 50, 100, 200], 50, key="ed_bleu_n", bind=Q))
    r = cached_bleu(c.name, str(state.device()), c.task, n)
    cols = st.columns(4)
    for i, m in enumerate(("AT", "NAT")):
        cols[2 * i].metric(f"{m} exact match", f"{r[m]['exact']:.1%}")
        cols[2 * i + 1].metric(f"{m} BLEU (chars)", f"{r[m]['bleu']:.1f}")
    st.caption(
        f"{n} held-out `{c.task}` inputs (never trained on: their key hashes to 0 mod 10), greedy AT and "
        "NAT. BLEU from sacrebleu with character tokenisation: brevity penalty × geometric mean of clipped "
        "1–4-gram precisions (Papineni et al. 2002). Exact match is all-or-nothing; BLEU gives partial "
        "credit, so a NAT output with one repeated character still scores high."
    )
    df = pd.DataFrame(
        {
            "source": [s for s, _ in r["examples"]],
            "reference": [t for _, t in r["examples"]],
            "AT": r["AT"]["hyps"],
            "NAT": r["NAT"]["hyps"],
        }
    )
    df["AT ok"] = df["AT"] == df["reference"]
    df["NAT ok"] = df["NAT"] == df["reference"]
    st.dataframe(df, hide_index=True, height=300)
    st.download_button(
        "Outputs (.csv)",
        df.to_csv(index=False),
        f"encdec-bleu-{c.task}.csv",
        "text/csv",
        key="ed_bleu_csv",
        on_click="ignore",
    )
