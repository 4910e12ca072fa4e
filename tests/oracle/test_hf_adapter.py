"""The Hugging Face adapter against HF eager attention on the same weights (random-init tiny checkpoints saved in
the test): probabilities and outputs within 1e-5, for decoders, encoders, a vision model, CLIP and seq2seq."""

import pytest
import torch
from helpers import CAUSAL, SMALL
from helpers import save_pretrained as _save
from helpers import tiny_ids as _ids

import xviz
from xviz.adapters.hf import load_hf_model

transformers = pytest.importorskip("transformers")
T = transformers


def _close_on_real(a, b, mask_q):
    """Compare (B, H, Nq, Nk) on real query rows only (fully masked padding rows are undefined in HF)."""
    sel = mask_q.bool()[:, None, :, None].expand_as(a)
    assert (a - b)[sel].abs().max() <= 1e-5


@pytest.mark.parametrize("arch", sorted(CAUSAL))
def test_causal_lm_parity(arch, tmp_path):
    torch.manual_seed(0)
    cfg = CAUSAL[arch]()
    folder = _save(T.AutoModelForCausalLM.from_config(cfg), tmp_path)
    ref = T.AutoModelForCausalLM.from_pretrained(folder, attn_implementation="eager").eval()
    model = load_hf_model(folder)
    assert model.kind == "lm" and model.is_causal
    ids, mask = _ids()
    with torch.no_grad():
        r = ref(input_ids=ids, attention_mask=mask, output_attentions=True, output_hidden_states=True)
        with xviz.record(model) as rec:
            out = model(input_ids=ids, attention_mask=mask)
        idle = model(input_ids=ids, attention_mask=mask)
    real = mask.bool()
    L = model.num_layers
    for i in range(L):
        _close_on_real(rec["probs", i], r.attentions[i], mask)
        probs = rec["probs", i][0]  # (H, N, N): causal, nothing above the diagonal
        assert probs.triu(1).abs().max() == 0
    assert (out.logits - r.logits)[real].abs().max() <= 1e-5
    assert (idle.logits - r.logits)[real].abs().max() <= 1e-5  # fused idle path == recording path
    assert torch.equal(rec["hook_logits"], out.logits)
    for i in range(L - 1):  # the last hidden state is after the final norm in HF's tuple
        assert (rec[f"blocks.{i}.hook_resid_post"] - r.hidden_states[i + 1])[real].abs().max() <= 1e-5
    lens = model.lens(rec[f"blocks.{L - 1}.hook_resid_post"])  # logit lens of the last block == logits
    assert (lens - out.logits)[real].abs().max() <= 1e-5
    assert rec["k", 0].shape[1] == model.num_kv_heads  # per KV head under GQA
    assert rec["q", 0].shape[1] == model.num_heads
    assert rec["q", 0].shape[-1] == model.head_dim  # the contract's width of one head (gemma2: its own head_dim)


def test_sliding_window_is_in_the_recorded_mask(tmp_path):
    """Mistral with window 4: position 9 gives weight 0 to keys 0..5."""
    torch.manual_seed(0)
    folder = _save(T.AutoModelForCausalLM.from_config(CAUSAL["mistral"]()), tmp_path)
    model = load_hf_model(folder)
    ids, _ = _ids(b=1)
    with torch.no_grad(), xviz.record(model, names="*hook_probs") as rec:
        model(input_ids=ids)
    p = rec["probs", 0][0, :, 9]  # (H, Nk)
    assert p[:, :6].abs().max() == 0 and p[:, 6:].sum(-1).sub(1).abs().max() < 1e-5


def _bidirectional_parity(model, ref, inputs, attn_key="attentions", hidden_key="last_hidden_state"):
    with torch.no_grad():
        r = ref(**inputs, output_attentions=True)
        with xviz.record(model) as rec:
            out = model(**inputs)
    for i, ra in enumerate(getattr(r, attn_key)):
        assert (rec["probs", i] - ra).abs().max() <= 1e-5
    assert (getattr(out, hidden_key) - getattr(r, hidden_key)).abs().max() <= 1e-5
    return rec


def test_bert_parity(tmp_path):
    torch.manual_seed(0)
    cfg = T.BertConfig(vocab_size=97, max_position_embeddings=64, **SMALL)
    folder = _save(T.BertModel(cfg), tmp_path)
    ref = T.BertModel.from_pretrained(folder, attn_implementation="eager").eval()
    model = load_hf_model(folder)
    ids, mask = _ids(left_pad=0)
    mask[1, 7:] = 0  # right padding: padded keys get no weight
    rec = _bidirectional_parity(model, ref, dict(input_ids=ids, attention_mask=mask))
    assert rec["probs", 0][1, :, :, 7:].abs().max() == 0
    assert model.kind == "text" and not model.is_causal


def test_vit_parity(tmp_path):
    torch.manual_seed(0)
    cfg = T.ViTConfig(image_size=16, patch_size=4, num_channels=3, **SMALL)
    folder = _save(T.ViTModel(cfg), tmp_path)
    ref = T.ViTModel.from_pretrained(folder, attn_implementation="eager").eval()
    model = load_hf_model(folder)
    pix = torch.randn(1, 3, 16, 16, generator=torch.Generator().manual_seed(1))
    rec = _bidirectional_parity(model, ref, dict(pixel_values=pix))
    assert rec["probs", 0].shape == (1, 4, 17, 17) and model.kind == "image"


def test_clip_text_and_vision_towers(tmp_path):
    torch.manual_seed(0)
    tc = dict(vocab_size=97, max_position_embeddings=16, **SMALL)
    vc = dict(image_size=16, patch_size=4, **SMALL)
    cfg = T.CLIPConfig(text_config=tc, vision_config=vc, projection_dim=16)
    folder = _save(T.CLIPModel(cfg), tmp_path)
    ref = T.CLIPModel.from_pretrained(folder, attn_implementation="eager").eval()
    model = load_hf_model(folder)
    ids, _ = _ids(n=8, b=1)
    pix = torch.randn(1, 3, 16, 16, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        r = ref(input_ids=ids, pixel_values=pix, output_attentions=True)
        with xviz.record(model) as rec:
            out = model(input_ids=ids, pixel_values=pix)
    for i in range(2):
        assert (rec[f"text.blocks.{i}.attn.hook_probs"] - r.text_model_output.attentions[i]).abs().max() <= 1e-5
        assert (rec[f"vision.blocks.{i}.attn.hook_probs"] - r.vision_model_output.attentions[i]).abs().max() <= 1e-5
    assert rec["text.blocks.0.attn.hook_probs"][0].triu(1).abs().max() == 0  # CLIP's text tower is causal
    assert (out.logits_per_image - r.logits_per_image).abs().max() <= 1e-5


@pytest.mark.parametrize("arch", ["bart", "marian"])
def test_seq2seq_self_and_cross_attention(arch, tmp_path):
    torch.manual_seed(0)
    kw = dict(
        vocab_size=97,
        d_model=32,
        encoder_layers=2,
        decoder_layers=2,
        encoder_attention_heads=4,
        decoder_attention_heads=4,
        encoder_ffn_dim=64,
        decoder_ffn_dim=64,
        max_position_embeddings=64,
    )
    if arch == "bart":
        cls, cfg = T.BartForConditionalGeneration, T.BartConfig(**kw)
    else:
        cls, cfg = T.MarianMTModel, T.MarianConfig(decoder_start_token_id=1, pad_token_id=0, **kw)
    folder = _save(cls(cfg), tmp_path)
    ref = cls.from_pretrained(folder, attn_implementation="eager").eval()
    model = load_hf_model(folder)
    assert model.kind == "seq2seq"
    ids, mask = _ids(left_pad=0)
    mask[1, 6:] = 0
    dec = torch.randint(3, 97, (2, 5), generator=torch.Generator().manual_seed(2))
    with torch.no_grad():
        r = ref(input_ids=ids, attention_mask=mask, decoder_input_ids=dec, output_attentions=True)
        with xviz.record(model) as rec:
            out = model(input_ids=ids, attention_mask=mask, decoder_input_ids=dec)
    for i in range(2):
        assert (rec[f"encoder.blocks.{i}.attn.hook_probs"] - r.encoder_attentions[i])[0].abs().max() <= 1e-5
        assert (rec[f"decoder.blocks.{i}.attn.hook_probs"] - r.decoder_attentions[i]).abs().max() <= 1e-5
        cross = rec[f"decoder.blocks.{i}.cross_attn.hook_probs"]  # (B, H, T, S): target × source
        assert (cross - r.cross_attentions[i]).abs().max() <= 1e-5
        assert cross.shape == (2, 4, 5, 10) and cross[1, :, :, 6:].abs().max() == 0
        assert rec[f"decoder.blocks.{i}.attn.hook_probs"][0].triu(1).abs().max() == 0
    assert (out.logits - r.logits).abs().max() <= 1e-5
