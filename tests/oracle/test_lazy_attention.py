"""Attention kept on demand (attention="lazy") against HF eager `output_attentions` on the same weights, for every
adapter family of the parity suite (causal LMs with GQA, sliding windows and soft-capping, BERT, ViT, CLIP's two
towers, BART / Marian self- and cross-attention) and xviz's own encoder: the maps computed when read equal HF's
within 1e-5, as the dense recording does; the streamed statistics and pooled maps equal those of the dense
tensors; and nothing N² is kept."""

import pytest
import torch
from helpers import CAUSAL, SMALL, save_pretrained, tiny_ids

import xviz
from xviz.adapters.hf import load_hf_model
from xviz.analysis.attention_stats import head_entropy, mean_token_distance
from xviz.lazy_attention import StoredAttention, pooled_map, row_stats

T = pytest.importorskip("transformers")


def _real_rows_close(a, b, mask):
    sel = mask.bool()[:, None, :, None].expand_as(a)  # fully masked padding rows are undefined in HF
    assert (a - b)[sel].abs().max() <= 1e-5


@pytest.mark.parametrize("arch", sorted(CAUSAL))
def test_causal_lm_lazy_equals_hf_eager(arch, tmp_path):
    torch.manual_seed(0)
    folder = save_pretrained(T.AutoModelForCausalLM.from_config(CAUSAL[arch]()), tmp_path)
    ref = T.AutoModelForCausalLM.from_pretrained(folder, attn_implementation="eager").eval()
    model = load_hf_model(folder)
    ids, mask = tiny_ids()
    with torch.no_grad():
        r = ref(input_ids=ids, attention_mask=mask, output_attentions=True)
        with xviz.record(model, names="blocks.*.attn.hook_*", attention="lazy") as rec:
            out = model(input_ids=ids, attention_mask=mask)
    assert (out.logits - r.logits)[mask.bool()].abs().max() <= 1e-5  # the fused path ran
    for i in range(model.num_layers):
        assert rec.is_lazy(("probs", i)) and rec.is_lazy(("scores", i))
        _real_rows_close(rec["probs", i], r.attentions[i], mask)
        head1 = rec.attention(i, head=1, rows=slice(4, 9), batch=0)  # one block, one head
        assert (head1 - r.attentions[i][0, 1, 4:9]).abs().max() <= 1e-5
    assert "blocks.0.attn.hook_probs" not in rec.tensors and rec.nbytes() < rec.dense_nbytes()


def test_encoders_and_vision_lazy_equal_hf_eager(tmp_path):
    torch.manual_seed(0)
    bert = save_pretrained(
        T.BertModel(T.BertConfig(vocab_size=97, max_position_embeddings=64, **SMALL)), tmp_path / "b"
    )
    vit = save_pretrained(T.ViTModel(T.ViTConfig(image_size=16, patch_size=4, **SMALL)), tmp_path / "v")
    ids, mask = tiny_ids(left_pad=0)
    mask[1, 7:] = 0
    pix = torch.randn(1, 3, 16, 16, generator=torch.Generator().manual_seed(1))
    for folder, cls, inputs in (
        (bert, T.BertModel, dict(input_ids=ids, attention_mask=mask)),
        (vit, T.ViTModel, dict(pixel_values=pix)),
    ):
        ref = cls.from_pretrained(folder, attn_implementation="eager").eval()
        model = load_hf_model(folder)
        with torch.no_grad():
            r = ref(**inputs, output_attentions=True)
            with xviz.record(model, names="*hook_probs", attention="lazy") as rec:
                model(**inputs)
        for i, ra in enumerate(r.attentions):
            assert rec.is_lazy(("probs", i)) and (rec["probs", i] - ra).abs().max() <= 1e-5


def test_clip_towers_and_seq2seq_cross_attention_lazy(tmp_path):
    torch.manual_seed(0)
    cfg = T.CLIPConfig(
        text_config=dict(vocab_size=97, max_position_embeddings=16, **SMALL),
        vision_config=dict(image_size=16, patch_size=4, **SMALL),
        projection_dim=16,
    )
    folder = save_pretrained(T.CLIPModel(cfg), tmp_path / "clip")
    ref = T.CLIPModel.from_pretrained(folder, attn_implementation="eager").eval()
    model = load_hf_model(folder)
    ids, _ = tiny_ids(n=8, b=1)
    pix = torch.randn(1, 3, 16, 16, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        r = ref(input_ids=ids, pixel_values=pix, output_attentions=True)
        with xviz.record(model, names="*hook_probs", attention="lazy") as rec:
            model(input_ids=ids, pixel_values=pix)
    for i in range(2):
        assert (rec[f"text.blocks.{i}.attn.hook_probs"] - r.text_model_output.attentions[i]).abs().max() <= 1e-5
        assert (rec[f"vision.blocks.{i}.attn.hook_probs"] - r.vision_model_output.attentions[i]).abs().max() <= 1e-5
    kw = dict(vocab_size=97, d_model=32, encoder_layers=2, decoder_layers=2, encoder_attention_heads=4)
    kw.update(decoder_attention_heads=4, encoder_ffn_dim=64, decoder_ffn_dim=64, max_position_embeddings=64)
    folder = save_pretrained(T.BartForConditionalGeneration(T.BartConfig(**kw)), tmp_path / "bart")
    ref = T.BartForConditionalGeneration.from_pretrained(folder, attn_implementation="eager").eval()
    model = load_hf_model(folder)
    ids, mask = tiny_ids(left_pad=0)
    mask[1, 6:] = 0
    dec = torch.randint(3, 97, (2, 5), generator=torch.Generator().manual_seed(2))
    with torch.no_grad():
        r = ref(input_ids=ids, attention_mask=mask, decoder_input_ids=dec, output_attentions=True)
        with xviz.record(model, names="*hook_probs", attention="lazy") as rec:
            model(input_ids=ids, attention_mask=mask, decoder_input_ids=dec)
    for i in range(2):
        cross = rec[f"decoder.blocks.{i}.cross_attn.hook_probs"]  # (B, H, T, S)
        assert rec.is_lazy(f"decoder.blocks.{i}.cross_attn.hook_probs")
        assert (cross - r.cross_attentions[i]).abs().max() <= 1e-5 and cross[1, :, :, 6:].abs().max() == 0
        assert (rec[f"decoder.blocks.{i}.attn.hook_probs"] - r.decoder_attentions[i]).abs().max() <= 1e-5


def test_own_encoder_lazy_equals_dense_and_streams_equal_dense_statistics(minilm, minilm_dir):
    batch = minilm.prepare(["The cat sat on the mat.", "A longer second sentence, so that the first one is padded."])
    ref = T.BertModel.from_pretrained(str(minilm_dir), attn_implementation="eager").eval()
    with torch.no_grad():
        r = ref(**batch, output_attentions=True)
        with xviz.record(minilm, names="blocks.*.attn.hook_*", attention="dense") as dense:
            minilm(**batch)
        with xviz.record(minilm, names="blocks.*.attn.hook_*", attention="lazy") as lazy:
            minilm(**batch)
    assert torch.equal(lazy["probs", 0], dense["probs", 0])  # same inputs, same kernel: bit-exact
    assert torch.equal(lazy["scores", 0], dense["scores", 0])
    for i in range(minilm.num_layers):  # the oracle's tolerance, as the dense recording's (test_text_encoder.py)
        torch.testing.assert_close(lazy["probs", i], r.attentions[i], atol=1e-5, rtol=1e-5)
    valid = batch["attention_mask"][0].bool().cpu()
    n = int(valid.sum())
    probs = dense["probs", 0][:, :, :n, :n]  # layer 0 (same inputs in both runs), the first sentence, unpadded
    stats = row_stats(lazy.source(("probs", 0)), batch=0, topk=3, block=4)  # streamed 4 rows at a time
    ent = stats.entropy[:, :n].mean(-1)
    assert torch.allclose(ent, head_entropy(probs[0]), atol=1e-5)
    assert torch.allclose(stats.distance[:, :n].mean(-1), mean_token_distance(probs[0]), atol=1e-4)
    stored = row_stats(StoredAttention(dense["probs", 0]), batch=0, topk=3)
    assert torch.equal(stats.argmax, stored.argmax) and torch.equal(stats.topk_keys, stored.topk_keys)
    for got, want in ((stats.first, stored.first), (stats.entropy, stored.entropy), (stats.max, stored.max)):
        assert (got - want).abs().max() <= 1e-6  # 4-row blocks vs one matmul: float rounding only


def test_pooled_map_is_the_block_mean_and_max():
    g = torch.Generator().manual_seed(0)
    p = torch.rand(1, 2, 50, 37, generator=g).softmax(-1)
    mean, fy, fx = pooled_map(StoredAttention(p), size=8)
    assert (fy, fx) == (7, 5) and mean.shape == (2, 8, 8)
    assert torch.allclose(mean[1, 2, 3], p[0, 1, 14:21, 15:20].mean())
    assert torch.allclose(mean[0, 7, 7], p[0, 0, 49:50, 35:37].mean())  # the ragged last cell: its cells only
    mx, _, _ = pooled_map(StoredAttention(p), head=1, rows=slice(10, 30), cols=slice(5, 25), size=4, reduce="max")
    assert mx.shape == (1, 4, 4) and torch.equal(mx[0, 0, 0], p[0, 1, 10:15, 5:10].max())
