"""QK / OV circuits and information flow on small random-init Llama (GQA) and GPT-2 models, against explicit
C × C and V × V computations: spectra, composition scores, copying scores, token tables; the information-flow
split reassembles the recorded stream; the graph keeps what it says it keeps."""

import pytest
import torch
from circuit_models import pair, save_gpt2, save_llama

import xviz
from xviz.analysis import circuits, info_flow


@pytest.fixture(scope="module", params=["llama", "gpt2"])
def model(request, tmp_path_factory):
    save = save_llama if request.param == "llama" else save_gpt2
    return xviz.load_model(str(save(tmp_path_factory.mktemp(request.param))))


def _full(model, layer, head):
    hw = circuits.head_weights(model, layer)
    return hw.W_Q[head] @ hw.W_K[head].T, hw.W_V[head] @ hw.W_O[head]  # (C, C) each


def test_gqa_heads_share_their_kv_weights(tmp_path):
    m = xviz.load_model(str(save_llama(tmp_path)))
    hw = circuits.head_weights(m, 1)
    assert torch.equal(hw.W_K[0], hw.W_K[1]) and not torch.equal(hw.W_K[1], hw.W_K[2])  # 4 query / 2 KV heads
    assert torch.equal(hw.W_V[2], hw.W_V[3])


def test_spectra_equal_the_full_matrices(model):
    qk, ov = _full(model, 1, 2)
    sp = circuits.spectra(model, 1, 2)
    D = model.head_dim
    torch.testing.assert_close(sp.qk, torch.linalg.svdvals(qk)[:D], atol=1e-5, rtol=1e-4)
    torch.testing.assert_close(sp.ov, torch.linalg.svdvals(ov)[:D], atol=1e-5, rtol=1e-4)


def test_composition_scores_by_brute_force(model):
    L, H = model.num_layers, model.num_heads
    mats = {(lay, h): _full(model, lay, h) for lay in range(L) for h in range(H)}

    def score(a, b):
        return float((a @ b).norm() / (a.norm() * b.norm()))

    for mode in "QKV":
        got = circuits.composition_scores(model, mode)
        into = circuits.composition_into(model, L - 1, 3, mode)
        torch.testing.assert_close(into, got[:, :, L - 1, 3], atol=1e-6, rtol=1e-5)
        for (l1, h1), (l2, h2) in (((0, 1), (1, 2)), ((0, 3), (2, 0)), ((1, 0), (2, 3))):
            ov1, (qk2, ov2) = mats[l1, h1][1], mats[l2, h2]
            right = {"Q": qk2, "K": qk2.T, "V": ov2}[mode]
            assert abs(float(got[l1, h1, l2, h2]) - score(ov1, right)) < 1e-5, (mode, l1, h1, l2, h2)
        assert float(got[1, 0, 0, 0]) == 0.0 and float(got[1, 0, 1, 2]) == 0.0  # only earlier → later layers
    assert float(circuits.composition_into(model, 0, 0, "K").abs().sum()) == 0.0


def test_copying_score_from_the_vocabulary_circuit(model):
    """Σλ/Σ|λ| of the D × D matrix equals that of the full V × V token circuit (same non-zero eigenvalues)."""
    hw = circuits.head_weights(model, 1)
    E = circuits.normalised_embeddings(model)  # (V, C)
    W_U = model.unembedding_weights().float() * model.final_norm_weights().weight.float()[:, None]
    got = circuits.copying_scores(model, 1)
    for h in range(model.num_heads):
        lam = torch.linalg.eigvals((E @ hw.W_V[h] @ hw.W_O[h] @ W_U).double())  # (V, V)
        assert abs(float(lam.real.sum() / lam.abs().sum()) - float(got[h])) < 1e-3
        assert -1.0 <= float(got[h]) <= 1.0


def test_token_tables(model):
    src = torch.tensor([5, 9, 11])
    tab = circuits.ov_table(model, 2, 1, src, k=4)
    hw = circuits.head_weights(model, 2)
    out = circuits.normalised_embeddings(model, src) @ hw.W_V[1] @ hw.W_O[1]
    if model.final_norm_weights().kind == "layer":
        out = out - out.mean(-1, keepdim=True)
    logits = out @ (model.unembedding_weights().float() * model.final_norm_weights().weight.float()[:, None])
    assert torch.equal(tab.top_ids, logits.topk(4, -1).indices)
    assert torch.equal(tab.self_rank, (logits > logits.gather(1, src[:, None])).sum(-1))
    qk = circuits.qk_table(model, 2, 1, src, k=4)
    scores = (
        circuits.normalised_embeddings(model, src) @ hw.W_Q[1] @ (circuits.normalised_embeddings(model) @ hw.W_K[1]).T
    )
    assert torch.equal(qk.top_ids, scores.topk(4, -1).indices)


def test_information_flow_reassembles_the_stream(model):
    clean, _, _, _ = pair(model.vocab_size, n=9, seed=3)
    ids = clean[0]
    names = [f"blocks.{i}.{h}" for i in range(model.num_layers) for h in ("attn.hook_probs", "attn.hook_v")]
    names += [f"blocks.{i}.hook_resid_{s}" for i in range(model.num_layers) for s in ("pre", "mid")]
    with xviz.record(model, names=names) as rec:
        model(input_ids=ids[None])
    for layer in range(model.num_layers):
        A = rec[f"blocks.{layer}.attn.hook_probs"][0]  # (H, N, N)
        vo = info_flow._value_out(model, layer, rec[f"blocks.{layer}.attn.hook_v"][0])  # (H, N, C)
        c = torch.einsum("hij,hjc->ijc", A, vo)  # (N, N, C)
        b_O = model.block_weights(layer).attn.b_O
        rebuilt = rec[f"blocks.{layer}.hook_resid_pre"][0] + c.sum(1) + (b_O if b_O is not None else 0)
        torch.testing.assert_close(rebuilt, rec[f"blocks.{layer}.hook_resid_mid"][0], atol=1e-4, rtol=1e-4)
    fl = info_flow.information_flow(model, ids)
    torch.testing.assert_close(fl.attn.sum(-1) + fl.attn_res, torch.ones(model.num_layers, 9), atol=1e-5, rtol=0)
    torch.testing.assert_close(fl.mlp + fl.mlp_res, torch.ones(model.num_layers, 9), atol=1e-5, rtol=0)
    assert float(fl.attn.triu(1).abs().sum()) == 0.0 and float(fl.norms.triu(1).abs().sum()) == 0.0
    assert fl.top_head.max() < model.num_heads and ((fl.head_share > 0) & (fl.head_share <= 1 + 1e-6)).any()
    assert fl.edge_tokens and all(len(v) == 3 for v in fl.edge_tokens.values())


def test_proximity_by_hand():
    parts = torch.tensor([[[1.0, 0.0], [0.0, 1.0], [-1.0, 0.0]]])  # (1, 3, 2): y = (0, 1)
    w = info_flow.proximity(parts, parts.sum(1))
    # ‖y‖₁ = 1; ‖y − p‖₁ = 2, 0, 2 → proximities 0, 1, 0: the part equal to y takes everything
    torch.testing.assert_close(w, torch.tensor([[0.0, 1.0, 0.0]]))
    parts = torch.tensor([[1.0, 0.0], [0.0, 1.0]])
    torch.testing.assert_close(info_flow.proximity(parts, parts.sum(0)), torch.tensor([0.5, 0.5]))


def test_flow_graph_keeps_what_reaches_the_prediction(model):
    clean, _, _, _ = pair(model.vocab_size, n=7, seed=5)
    fl = info_flow.information_flow(model, clean[0])
    L, N = model.num_layers, 7
    assert info_flow.flow_graph(fl, 1.01) == []
    low, high = info_flow.flow_graph(fl, 0.05), info_flow.flow_graph(fl, 0.2)
    assert set(high) <= set(low) and len(low) > len(high) > 0
    for e in low:
        assert e.weight >= 0.05 and e.dst[1] >= e.src[1]
    # every edge's destination is the final stream at the last position or the source of a kept edge
    sources = {e.src for e in low} | {("pre", L, N - 1)}
    assert all(e.dst in sources for e in low)
    # all edges at threshold 0: every attention edge of the last position's first hop is there
    every = info_flow.flow_graph(fl, 0.0)
    last = [e for e in every if e.kind == "attn" and e.layer == L - 1 and e.dst[2] == N - 1]
    assert len(last) == N
