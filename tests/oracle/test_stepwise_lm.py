"""Decoder step by step (SmolLM2 through the HF adapter): RoPE, GQA, causal mask, SwiGLU intermediates equal the
recorded hooks, and the block output equals transformers' LlamaForCausalLM (eager) on the same folder."""

import pytest
import torch

from xviz.analysis.stepwise_lm import run_lm_steps
from xviz.errors import InputError
from xviz.layers.pos_embed import rope, rope_angles

torch.set_num_threads(1)
TEXT = "When Mary and John went to the store, John gave a drink to"


@pytest.fixture(scope="module")
def smol():
    from xviz.pretrained.fetch import SMOLLM2, is_fetched

    if not is_fetched(SMOLLM2.name):
        pytest.skip(
            "smollm2-135m is not fetched on this machine (python -c 'import xviz; "
            'xviz.load_model("smollm2-135m")\' fetches it once)'
        )
    import xviz

    return xviz.load_model("smollm2-135m")


@pytest.fixture(scope="module")
def hf_eager():
    from transformers import LlamaForCausalLM

    from xviz.pretrained.fetch import fetch_smollm2

    return LlamaForCausalLM.from_pretrained(str(fetch_smollm2()), attn_implementation="eager").eval()


@pytest.mark.parametrize("layer,head", [(0, 0), (18, 6), (29, 8)])
def test_every_decoder_step_equals_recorded_hook(smol, layer, head):
    run = run_lm_steps(smol, TEXT, layer, head)
    keys = [s.key for s in run.steps]
    assert keys[:3] == ["tok", "x", "rms1"] and {"rope_q", "gqa", "mask", "swiglu"} <= set(keys)
    checked = [s for s in run.steps if s.hook]
    assert len(checked) == 13
    for s in checked:
        assert s.diff < 1e-5, (s.key, s.hook, s.diff)
    assert run.group == 3
    by = {s.key: s for s in run.steps}
    assert by["gqa"].hook == f"blocks.{layer}.attn.hook_k"
    assert f"head {head} reads K/V head {head // 3}" in by["gqa"].title
    assert (by["softmax"].value.triu(1) == 0).all()  # causal: no weight on the future


@pytest.mark.parametrize("layer", [0, 7])
def test_decoder_block_output_equals_hf_eager(smol, hf_eager, layer):
    run = run_lm_steps(smol, TEXT, layer, 4)
    batch = smol.prepare(TEXT, max_length=128)
    with torch.no_grad():
        ref = hf_eager(**batch, output_hidden_states=True, output_attentions=True)
    torch.testing.assert_close(run.block_out, ref.hidden_states[layer + 1][0], atol=1e-4, rtol=1e-5)
    probs = {s.key: s.value for s in run.steps}["softmax"]
    torch.testing.assert_close(probs, ref.attentions[layer][0, 4], atol=1e-6, rtol=1e-5)


def test_rope_matches_transformers():
    from transformers import LlamaConfig
    from transformers.models.llama.modeling_llama import LlamaRotaryEmbedding, apply_rotary_pos_emb

    cfg = LlamaConfig(hidden_size=128, num_attention_heads=2, num_key_value_heads=1, rope_theta=100000.0)
    emb = LlamaRotaryEmbedding(cfg)
    g = torch.Generator().manual_seed(0)
    q, k = torch.randn(1, 2, 7, 64, generator=g), torch.randn(1, 1, 7, 64, generator=g)
    cos_ref, sin_ref = emb(q, torch.arange(7)[None])
    cos = rope_angles(torch.arange(7), 64, 100000.0).repeat(1, 2).cos().float()  # (N, D), halves layout
    torch.testing.assert_close(cos, cos_ref[0])
    q_ref, k_ref = apply_rotary_pos_emb(q, k, cos_ref, sin_ref)
    torch.testing.assert_close(rope(q, base=100000.0, interleaved=False), q_ref)
    torch.testing.assert_close(rope(k, base=100000.0, interleaved=False), k_ref)
    # rotation: norms per (i, i + D/2) pair are kept, and q'·k' depends only on the offset
    torch.testing.assert_close(rope(q, base=100000.0, interleaved=False).norm(dim=-1), q.norm(dim=-1))


def test_decoder_bad_input(smol, minilm):
    with pytest.raises(InputError, match="empty"):
        run_lm_steps(smol, "  ")
    with pytest.raises(InputError):
        run_lm_steps(smol, "hi", layer=30)
    with pytest.raises(InputError, match="Llama"):
        run_lm_steps(minilm, "hi")
