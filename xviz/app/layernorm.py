"""Render helpers of the LayerNorm page: the depth sweep at initialisation (cached, with progress) and the live
pre-LN vs post-LN training run (progress bar, stop button, results kept in this session's state only)."""

from __future__ import annotations

import time
from dataclasses import asdict

import streamlit as st

from xviz.analysis.grad_norms import METRICS, GradNorms, layer_grad_norms, ratio_vs_depth
from xviz.app import state
from xviz.app.widgets import Q, figure
from xviz.plots import layernorm as ln_plots
from xviz.train.live import TASKS, TrainConfig, train_compare

HEADS, FFN_RATIO, VOCAB, SEQ_LEN, BATCH = 4, 2, 512, 32, 8  # the paper: d = 512, FFN 1024, 4 heads


@st.cache_data(max_entries=128, show_spinner=False)
def grad_norms_cached(
    num_layers: int, norm_position: str, hidden_size: int, seeds: tuple[int, ...], zipf: float, device: str
) -> GradNorms:
    return layer_grad_norms(
        num_layers,
        norm_position,
        hidden_size=hidden_size,
        mlp_hidden=FFN_RATIO * hidden_size,
        num_heads=HEADS,
        vocab_size=VOCAB,
        seq_len=SEQ_LEN,
        batch=BATCH,
        seeds=seeds,
        zipf=zipf,
        device=device,
    )


def init_section() -> None:
    on_gpu = state.device().type != "cpu"
    c1, c2, c3, c4 = st.columns(4)
    widths = [64, 128, 256, 512]
    d = c1.selectbox(
        "Width d",
        widths,
        index=3 if on_gpu else 1,
        key="ln_d",
        bind=Q,
        help="FFN width 2d, 4 heads. The paper: d = 512; on a CPU d = 128 keeps the sweep to seconds.",
    )
    depths = sorted(
        c2.multiselect("Depths L", [2, 4, 6, 8, 12, 18, 24, 36, 48], [6, 12, 18, 24], key="ln_depths", bind=Q)
    )
    n_seeds = c3.slider("Seeds averaged", 1, 8, 3, key="ln_seeds", bind=Q)
    zipf = c4.slider(
        "Token skew (Zipf s)",
        0.0,
        1.5,
        1.0,
        0.25,
        key="ln_zipf",
        bind=Q,
        help="Random tokens with p(k) ∝ 1/k^s, like words in text; 0 = uniform.",
    )
    if not depths:
        st.info("Pick at least one depth.")
        return
    results = _sweep(depths, d, tuple(range(n_seeds)), zipf, str(state.device()))
    c1, c2 = st.columns([1, 3])
    shown = c1.selectbox("Depth shown per layer", depths, index=len(depths) - 1, key="ln_shown", bind=Q)
    metrics = c2.multiselect(
        "Quantities", list(METRICS), ["w1", "w2"], format_func=METRICS.get, key="ln_metrics", bind=Q
    )
    figure(
        ln_plots.per_layer_figure(*results[shown], metrics or ["w1"]),
        "ln_per_layer",
        caption="W¹, W²: the FFN's two weight matrices; LN input/output: the gradient reaching the activations "
        "before and after each LayerNorm (recorded with xviz.record(grads=True)). Error bars: std over "
        "seeds.",
    )
    sweep = ratio_vs_depth(results, "w1")
    figure(
        ln_plots.depth_figure(sweep, "w1"),
        "ln_depth",
        caption="Dotted: Theorem 1's scaling through the first point — pre-LN ∝ 1/√L, hence post/pre ∝ √L.",
    )
    st.dataframe(
        {
            "depth L": [int(x) for x in sweep["depth"]],
            "pre-LN ‖∂ℒ/∂W¹‖ (last layer)": sweep["pre"],
            "post-LN ‖∂ℒ/∂W¹‖ (last layer)": sweep["post"],
            "post / pre": sweep["ratio"],
            "pre · √L": sweep["pre_sqrt_L"],
        },
        hide_index=True,
        key="ln_table",
    )
    pre, post = results[shown]
    grows = "grows with the layer index" if post.last_over_first() > 1.1 else "is roughly flat across layers"
    lo, hi = min(sweep["post"]), max(sweep["post"])
    st.markdown(
        f"**Reading it (L = {shown}).** Post-LN's W¹ gradient {grows}: last / first layer = "
        f"{post.last_over_first():.2f}, against {pre.last_over_first():.2f} for pre-LN. Across depths post-LN's "
        f"last layer stays at {lo:.3g}–{hi:.3g} while pre-LN's shrinks (pre·√L ≈ constant, Theorem 1), so "
        f"post / pre goes from {sweep['ratio'][0]:.2f} at L = {depths[0]} to {sweep['ratio'][-1]:.2f} at "
        f"L = {depths[-1]}."
    )


def _sweep(
    depths: list[int], d: int, seeds: tuple[int, ...], zipf: float, device: str
) -> dict[int, tuple[GradNorms, GradNorms]]:
    bar = st.progress(0.0, text="Computing gradient norms…")
    results, jobs = {}, [(L, pos) for L in depths for pos in ("pre", "post")]
    for k, (L, pos) in enumerate(jobs):
        bar.progress(k / len(jobs), text=f"{pos}-LN, L = {L} ({len(seeds)} seeds)…")
        res = grad_norms_cached(L, pos, d, seeds, zipf, device)
        results.setdefault(L, [None, None])[0 if pos == "pre" else 1] = res
    bar.empty()
    return {L: tuple(v) for L, v in results.items()}


# ---- live training ------------------------------------------------------------------------------------------
def _request() -> None:
    """Train button callback: read the widgets' values now (button args would be those of the previous run)."""
    ss = st.session_state
    cfg = TrainConfig(
        task=ss["ln_task"],
        num_layers=int(ss["ln_train_depth"]),
        lr=float(ss["ln_lr"]),
        warmup=int(ss["ln_warmup"]),
        steps=int(ss["ln_steps"]),
        seed=int(ss["ln_train_seed"]),
    )
    ss["ln_request"] = (cfg, tuple(ss["ln_positions"]))
    ss["ln_stop"] = False


def _stop() -> None:
    st.session_state["ln_stop"] = True
    st.session_state.pop("ln_request", None)
    live = st.session_state.get("ln_live")
    if live and live["status"] == "running":
        live["status"] = "stopped"


def training_section() -> None:
    on_gpu = state.device().type != "cpu"
    c1, c2, c3, c4 = st.columns(4)
    c1.selectbox(
        "Task",
        TASKS,
        key="ln_task",
        bind=Q,
        help="Read 8 random symbols, then write them backwards (reverse) or again (copy).",
    )
    c2.slider("Depth L", 1, 12, 6, key="ln_train_depth", bind=Q)
    c3.select_slider(
        "Learning rate", [1e-4, 3e-4, 1e-3, 3e-3, 1e-2], 3e-3, key="ln_lr", bind=Q, format_func=lambda x: f"{x:g}"
    )
    c4.number_input("Warm-up steps", 0, 2000, 0, step=20, key="ln_warmup", bind=Q)
    c1, c2, c3, c4 = st.columns(4)
    max_steps = 3000 if on_gpu else 600
    c1.number_input(
        "Steps",
        10,
        max_steps,
        400 if on_gpu else 150,
        step=10,
        key="ln_steps",
        bind=Q,
        help="Each step is one Adam update on a batch of 32 sequences (d = 64, 4 heads).",
    )
    positions = c2.multiselect(
        "Norm position",
        ["pre", "post"],
        ["pre", "post"],
        key="ln_positions",
        bind=Q,
        format_func=ln_plots.POSITION_NAMES.get,
    )
    c3.number_input("Seed", 0, 10_000, 0, key="ln_train_seed", bind=Q)
    b1, b2, _ = st.columns([1, 1, 6])
    b1.button("Train", key="ln_train", type="primary", on_click=_request, disabled=not positions)
    b2.button("Stop", key="ln_stop_button", on_click=_stop)
    request = st.session_state.pop("ln_request", None)
    if request is not None:
        _run(*request, device=str(state.device()))
    _show_results()


def _run(cfg: TrainConfig, positions: tuple[str, ...], device: str) -> None:
    """Train in this script run; the history lives in this session's state, so a Stop (rerun) keeps it."""
    history = {p: [] for p in positions}
    live = st.session_state["ln_live"] = {
        "config": asdict(cfg),
        "history": history,
        "status": "running",
        "device": device,
    }
    bar = st.progress(0.0, text="Starting…")
    loss_slot, grad_slot = st.empty(), st.empty()
    drawn = time.monotonic()
    for logs in train_compare(cfg, positions, device):
        if st.session_state.get("ln_stop"):
            live["status"] = "stopped"
            break
        for p, log in logs.items():
            history[p].append(log)
        step = next(iter(logs.values())).step
        bar.progress(
            step / cfg.steps,
            text=f"step {step} / {cfg.steps} · "
            + " · ".join(f"{ln_plots.POSITION_NAMES[p]} loss {log.loss:.3f}" for p, log in logs.items()),
        )
        if time.monotonic() - drawn > 0.75:  # redraw the curves about once a second, not every step
            drawn = time.monotonic()
            loss_slot.plotly_chart(ln_plots.loss_figure(history), width="stretch")
            grad_slot.plotly_chart(ln_plots.live_grad_figure(history), width="stretch")
    else:
        live["status"] = "done"
    st.rerun()  # draw the final figures (with downloads) through the normal path


def _show_results() -> None:
    live = st.session_state.get("ln_live")
    if not live:
        st.info("Press **Train** to train the chosen norm positions side by side on the same batches.")
        return
    history, cfg = live["history"], live["config"]
    done = len(next(iter(history.values()), []))
    status = {"done": "finished", "stopped": "stopped", "running": "interrupted"}[live["status"]]
    summary = " · ".join(
        f"{ln_plots.POSITION_NAMES[p]}: loss {h[-1].loss:.3f}, accuracy {h[-1].accuracy:.0%}"
        for p, h in history.items()
        if h
    )
    st.success(
        f"Run {status} after {done} / {cfg['steps']} steps (lr {cfg['lr']:g}, warm-up {cfg['warmup']}, "
        f"L = {cfg['num_layers']}, {live['device']}). {summary}"
    )
    if done:
        figure(
            ln_plots.loss_figure(history),
            "ln_loss",
            caption="Cross-entropy on the answer half (log scale) and the share of answer symbols predicted "
            "exactly, at every step, for each norm position on the same batches.",
        )
        figure(
            ln_plots.live_grad_figure(history),
            "ln_live_grads",
            caption="Dark = layer 1 (input side), yellow = last layer. Post-LN without warm-up: watch the "
            "lower layers' gradients collapse while the loss stalls.",
        )
