"""Oracles: TransformerLens 4.3 (a test-only dependency) booted offline on the same HF folders
(`TransformerBridge.boot_transformers(folder)`), fed the same token ids (its `to_tokens` would prepend a BOS that
xviz's `prepare` does not add).

- `patch_residual` (resid_pre, attn_out, mlp_out) and `patch_heads` (z, q, k, v, pattern) equal TL's
  `get_act_patch_*` with the same metric (logit difference at the last position, mean over the batch);
- `direct_logit_attribution` equals TL's `tools.analysis.direct_logit_attribution(unit="head")` in compatibility
  mode (fold_ln, centred writing weights, folded value biases), and the per-part split its `unit="component"`;
- attribution patching equals TL's `attribution_patch` node scores (z summed over positions, MLP per position);
- composition scores equal `all_composition_scores`.
Tolerance: 2e-5 absolute + 1e-5 relative on logit differences of O(1) (measured: ≤ 4e-6 on GPT-2, ≤ 1e-7 on Llama).

SmolLM2: TL's sweeps take minutes, so its tables on the IOI pair are stored in tests/fixtures/ (npz + json; rebuild
with XVIZ_UPDATE_FIXTURES=1) and xviz is compared with them (slow).
"""

import json
import os
from pathlib import Path

import numpy as np
import pytest
import torch
from circuit_models import pair, save_gpt2, save_llama

import xviz
from xviz.analysis import attribution, attribution_patching, circuits, patching
from xviz.analysis.circuit_inputs import prompt_pairs

pytest.importorskip("transformer_lens")
from transformer_lens import patching as tlp  # noqa: E402
from transformer_lens.model_bridge import TransformerBridge  # noqa: E402

ATOL, RTOL = 2e-5, 1e-5
FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "circuits_smollm2_tl"
TL_SWEEPS = {
    "resid_pre": tlp.get_act_patch_resid_pre,
    "attn_out": tlp.get_act_patch_attn_out,
    "mlp_out": tlp.get_act_patch_mlp_out,
    "z": tlp.get_act_patch_attn_head_out_all_pos,
    "q": tlp.get_act_patch_attn_head_q_all_pos,
    "k": tlp.get_act_patch_attn_head_k_all_pos,
    "v": tlp.get_act_patch_attn_head_v_all_pos,
    "pattern": tlp.get_act_patch_attn_head_pattern_all_pos,
}


def _metric(answer: torch.Tensor, wrong: torch.Tensor):
    def metric(logits):
        rows = torch.arange(logits.shape[0])
        return (logits[rows, -1, answer] - logits[rows, -1, wrong]).mean()

    return metric


@pytest.fixture(scope="module", params=["llama", "gpt2"])
def both(request, tmp_path_factory):
    """(xviz model, TL bridge) on one random-init folder."""
    folder = (save_llama if request.param == "llama" else save_gpt2)(tmp_path_factory.mktemp(request.param))
    return xviz.load_model(str(folder)), TransformerBridge.boot_transformers(str(folder), device="cpu")


def test_patching_equals_transformer_lens(both):
    model, tl = both
    clean, corrupt, a, b = pair(model.vocab_size, pairs=2, seed=1)
    _, cache = tl.run_with_cache(clean)
    for site, fn in TL_SWEEPS.items():
        ref = fn(tl, corrupt, cache, _metric(a, b)).detach()
        api = patching.patch_residual if site in patching.POSITION_SITES else patching.patch_heads
        got = api(model, clean, corrupt, a, b, site)
        assert got.shape == ref.shape, site
        torch.testing.assert_close(got, ref, atol=ATOL, rtol=RTOL, msg=site)
    assert ref.abs().max() > 0.3


def test_dla_equals_transformer_lens(both):
    from transformer_lens.tools.analysis import direct_logit_attribution as tl_dla

    model, tl = both
    tl.enable_compatibility_mode(disable_warnings=True)
    clean, _, a, b = pair(model.vocab_size, n=9, seed=2)
    ref = tl_dla(tl, clean, answer_tokens=int(a[0]), incorrect_tokens=int(b[0]), unit="head")
    heads = ref.attribution[:-1, 0].detach().reshape(model.num_layers, model.num_heads)  # last label: remainder
    got = attribution.direct_logit_attribution(model, clean[0], int(a[0]), int(b[0]))
    torch.testing.assert_close(got, heads, atol=ATOL, rtol=RTOL)
    comp = tl_dla(tl, clean, answer_tokens=int(a[0]), incorrect_tokens=int(b[0]), unit="component")
    parts = comp.attribution[:, 0].detach()
    if comp.labels[1] == "pos_embed":  # GPT-2: xviz's "embed" part is token + position embedding
        parts = torch.cat([parts[:1] + parts[1:2], parts[2:]])
    res = attribution.logit_attribution(model, clean[0], int(a[0]), int(b[0]))
    torch.testing.assert_close(res.parts, parts, atol=ATOL, rtol=RTOL)


def test_attribution_patching_equals_transformer_lens(both):
    from transformer_lens.tools.analysis.attribution_patching import attribution_patch

    model, tl = both
    clean, corrupt, a, b = pair(model.vocab_size, seed=3)
    res = attribution_patch(tl, clean, corrupt, lambda logits: logits[0, -1, a[0]] - logits[0, -1, b[0]])
    L, H, N = model.num_layers, model.num_heads, clean.shape[1]
    z, mlp = torch.zeros(L, H), torch.zeros(L, N)
    for node, score in res.node_scores.items():
        if node.kind == "attn_head_out":
            z[node.layer, node.head] += score  # xviz patches a head at every position at once
        elif node.kind == "mlp_out":
            mlp[node.layer, node.position] = score
    pairs = prompt_pairs(model, clean, corrupt, a, b)
    for site, ref in (("z", z), ("mlp_out", mlp)):
        est = attribution_patching.attribution_sweep(model, pairs, site)
        torch.testing.assert_close(est.values[0] - est.corrupt[0], ref, atol=ATOL, rtol=1e-4, msg=site)


def test_composition_equals_transformer_lens(both):
    model, tl = both
    tl.enable_compatibility_mode(disable_warnings=True)
    for mode in "QKV":
        ref = tl.all_composition_scores(mode).scores.detach()
        torch.testing.assert_close(circuits.composition_scores(model, mode), ref, atol=1e-6, rtol=1e-5)


# ---- SmolLM2: stored TransformerLens tables ------------------------------------------------------------------------
IOI = (
    "When Mary and John went to the store, John gave a drink to",
    "When Mary and John went to the store, Mary gave a drink to",
)


def _write_fixture(folder: Path, model) -> None:
    """TransformerLens's own numbers on SmolLM2 (minutes): run with XVIZ_UPDATE_FIXTURES=1."""
    tl = TransformerBridge.boot_transformers(str(folder), device="cpu")
    clean, corrupt = (model.prepare(t)["input_ids"].cpu() for t in IOI)  # identical ids on both sides
    a, b = (model.prepare(t, add_special_tokens=False)["input_ids"][0, :1].cpu() for t in (" Mary", " John"))
    _, cache = tl.run_with_cache(clean)
    tables = {s: TL_SWEEPS[s](tl, corrupt, cache, _metric(a, b)).detach().numpy() for s in ("resid_pre", "z")}
    tl.enable_compatibility_mode(disable_warnings=True)
    from transformer_lens.tools.analysis import direct_logit_attribution as tl_dla

    dla = tl_dla(tl, clean, answer_tokens=int(a), incorrect_tokens=int(b), unit="head").attribution[:-1, 0]
    tables["dla_heads"] = dla.detach().reshape(model.num_layers, model.num_heads).numpy()
    FIXTURE.parent.mkdir(exist_ok=True)
    np.savez_compressed(FIXTURE.with_suffix(".npz"), **{k: v.astype(np.float32) for k, v in tables.items()})
    _write_meta(clean, corrupt, a, b)


def _write_meta(clean, corrupt, a, b) -> None:
    from importlib.metadata import version

    meta = dict(
        model="smollm2-135m (SmolLM2-135M-Instruct, float32)",
        clean=IOI[0],
        corrupt=IOI[1],
        clean_ids=clean[0].tolist(),
        corrupt_ids=corrupt[0].tolist(),
        answer_id=int(a),
        wrong_id=int(b),
        metric="logits[0, -1, answer] - logits[0, -1, wrong]",
        made_with=f"transformer_lens {version('transformer-lens')}: get_act_patch_resid_pre, "
        "get_act_patch_attn_head_out_all_pos, tools.analysis.direct_logit_attribution(unit='head') in "
        "compatibility mode",
    )
    FIXTURE.with_suffix(".json").write_text(json.dumps(meta, indent=2))


@pytest.mark.slow
def test_smollm2_against_stored_transformer_lens_tables(smollm2_dir):
    model = xviz.load_model("smollm2-135m")
    if os.environ.get("XVIZ_UPDATE_FIXTURES") or not FIXTURE.with_suffix(".npz").exists():
        _write_fixture(Path(smollm2_dir), model)
    meta = json.loads(FIXTURE.with_suffix(".json").read_text())
    clean, corrupt = (model.prepare(t)["input_ids"][0].tolist() for t in IOI)
    assert clean == meta["clean_ids"] and corrupt == meta["corrupt_ids"]  # the tokenizer has not moved
    with np.load(FIXTURE.with_suffix(".npz"), allow_pickle=False) as f:
        ref = {k: torch.from_numpy(f[k]) for k in f.files}
    a, b = meta["answer_id"], meta["wrong_id"]
    torch.testing.assert_close(patching.patch_heads(model, clean, corrupt, a, b), ref["z"], atol=1e-4, rtol=1e-5)
    torch.testing.assert_close(
        patching.patch_residual(model, clean, corrupt, a, b), ref["resid_pre"], atol=1e-4, rtol=1e-5
    )
    torch.testing.assert_close(attribution.direct_logit_attribution(model, clean, a, b), ref["dla_heads"], atol=1e-4,
                               rtol=1e-5)  # fmt: skip
    assert float(ref["z"].max() - ref["z"].min()) > 3.0  # the table has structure (name movers)
