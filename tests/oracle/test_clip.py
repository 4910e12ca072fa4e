"""CLIP and SigLIP through xviz against transformers' CLIPModel / SiglipModel on the same random-init folders
(default configs, 2 blocks per tower, a WordLevel tokenizer saved with them): similarity = logits_per_image,
zero-shot and its template ensemble, the contrastive losses, per-patch embeddings and pooling, the text tower, the
gradient × attention relevance against gradients taken through HF's own attention tensors, and bad inputs."""

import numpy as np
import pytest
import torch
from clip_fixtures import save_clip, save_siglip
from PIL import Image
from safetensors.torch import load_file, save_file

import xviz
from xviz.analysis.clip import contrast, zero_shot
from xviz.analysis.clip_maps import chefer_relevance, relevance_map, text_tower
from xviz.errors import InputError, ModelLoadError, XvizError
from xviz.samples import load_sample

T = pytest.importorskip("transformers")
TEXTS = ["a photo of a cat", "an astronaut", "a red circle above a blue square", "<b>bold</b> & <script>x</script>"]
HF = {"clip": (T.CLIPModel, T.CLIPImageProcessorPil), "siglip": (T.SiglipModel, T.SiglipImageProcessorPil)}


def _images():
    tall = Image.fromarray(np.random.default_rng(0).integers(0, 256, (300, 90, 3), dtype=np.uint8))
    return [load_sample("chelsea"), load_sample("astronaut"), tall, load_sample("coffee")]


@pytest.fixture(scope="module", params=["clip", "siglip"])
def pair(request, tmp_path_factory):
    """(family, xviz model, HF reference, HF tokenizer, HF image processor) on one folder."""
    family = request.param
    folder = (save_clip if family == "clip" else save_siglip)(tmp_path_factory.mktemp(family))
    cls, proc = HF[family]
    ref = cls.from_pretrained(str(folder), attn_implementation="eager").eval()
    return family, xviz.load_model(str(folder)), ref, T.AutoTokenizer.from_pretrained(str(folder)), proc()


def _hf_inputs(pair, images, texts):
    family, model, _, tok, proc = pair
    pad = "max_length" if family == "siglip" else True
    enc = tok(texts, padding=pad, truncation=True, max_length=model.text_max_tokens, return_tensors="pt")
    pv = torch.as_tensor(proc(images, return_tensors="pt")["pixel_values"])
    return dict(input_ids=enc["input_ids"], attention_mask=enc["attention_mask"], pixel_values=pv)


def test_kind_and_contract(pair):
    family, model, ref, _, _ = pair
    assert model.kind == "clip" and model.is_sigmoid == (family == "siglip")
    assert model.vision_tower.kind == "image" and model.vision_tower.num_layers == 2
    assert model.logit_scale == pytest.approx(float(ref.logit_scale.detach().exp()))
    assert (model.logit_bias is None) == (family == "clip")


def test_similarity_equals_hf_logits_per_image(pair):
    _, model, ref, _, _ = pair
    with torch.no_grad():
        r = ref(**_hf_inputs(pair, _images(), TEXTS))
    sim = model.similarity(_images(), TEXTS)
    assert sim.shape == (4, 4)
    torch.testing.assert_close(sim, r.logits_per_image, atol=1e-5, rtol=1e-5)


def _hf_text(pair, texts):
    _, model, ref, _, _ = pair
    inputs = _hf_inputs(pair, _images()[:1], texts)
    out = ref.get_text_features(input_ids=inputs["input_ids"], attention_mask=inputs["attention_mask"])
    return torch.nn.functional.normalize(out.pooler_output, dim=-1)


def test_zero_shot_and_template_ensemble(pair):
    family, model, ref, _, _ = pair
    labels, temps = ["cat", "dog", "red circle"], ["a photo of a {}.", "{}", "a drawing of a {}"]
    img = _images()[0]
    with torch.no_grad():
        img_emb = torch.nn.functional.normalize(
            ref.get_image_features(**{"pixel_values": _hf_inputs(pair, [img], ["a"])["pixel_values"]}).pooler_output,
            dim=-1,
        )
        per = torch.stack([_hf_text(pair, [t.replace("{}", lab) for t in temps]) for lab in labels])  # (n, T, E)
        ens = torch.nn.functional.normalize(per.mean(1), dim=-1)  # Radford et al. 2021: mean, renormalised
        logits = img_emb @ ens.T * ref.logit_scale.exp() + (ref.logit_bias if family == "siglip" else 0)
    want = torch.sigmoid(logits) if family == "siglip" else logits.softmax(-1)
    got = model.zero_shot([img], labels, temps)
    torch.testing.assert_close(got, want, atol=1e-5, rtol=1e-5)
    z = zero_shot(model, img, labels, tuple(temps))  # the page's analysis: same numbers, plus each template alone
    torch.testing.assert_close(z.probs, want[0], atol=1e-5, rtol=1e-5)
    assert z.per_template.shape == (3, 3) and not z.truncated
    single = model.zero_shot(img, labels, [temps[1]])
    torch.testing.assert_close(z.per_template[1], single[0], atol=1e-5, rtol=1e-5)


def test_contrastive_loss_equals_hf_return_loss(pair):
    family, model, ref, _, _ = pair
    images, caps = _images(), TEXTS
    with torch.no_grad():
        r = ref(**_hf_inputs(pair, images, caps), return_loss=True)
    c = contrast(model, images, caps)
    assert c.loss == pytest.approx(float(r.loss), abs=1e-4)
    if family == "clip":  # each row / column a distribution
        torch.testing.assert_close(c.p_image_to_text.sum(1), torch.ones(4))
        torch.testing.assert_close(c.p_text_to_image.sum(0), torch.ones(4))
    with pytest.raises(InputError, match="one caption per image"):
        contrast(model, images, caps[:2])


def test_text_pool_position_is_where_hf_pools(pair):
    family, model, ref, _, _ = pair
    batch = model.prepare(TEXTS)
    pos = model.text_pool_index(batch)
    with torch.no_grad():
        out = ref.text_model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"])
    hidden = out.last_hidden_state
    if family == "clip":  # CLIP's pooler_output is the final-norm state at the end token
        torch.testing.assert_close(out.pooler_output, hidden[torch.arange(4), pos])
        assert all(batch["input_ids"][i, p] == 49407 for i, p in enumerate(pos))
    else:
        assert pos == [63] * 4  # SigLIP: the last of its 64 padded positions


def test_patch_embeddings_and_pooling_follow_the_pooling_path(pair):
    family, model, ref, _, _ = pair
    img = _images()[1]
    batch = model.prepare(img)
    with torch.no_grad():
        vis = ref.vision_model(pixel_values=batch["pixel_values"])
        patches = model.patch_embeddings(batch, normalize=False)[0]  # (gh·gw, E)
        pool = model.image_pooling(batch)[0]
        if family == "clip":
            want = ref.visual_projection(ref.vision_model.post_layernorm(vis.last_hidden_state[0, 1:]))
            assert pool[0] == 1 and pool.sum() == 1
        else:  # HF's own pooling head on a one-token sequence = that token alone through the head
            want = torch.cat(
                [ref.vision_model.head(vis.last_hidden_state[:, i : i + 1]) for i in range(patches.shape[0])]
            )
            _, w = ref.vision_model.head.attention(
                ref.vision_model.head.probe, vis.last_hidden_state, vis.last_hidden_state, need_weights=True
            )
            torch.testing.assert_close(pool, w[0, 0])
    torch.testing.assert_close(patches, want, atol=1e-5, rtol=1e-5)


def test_text_tower_attention_equals_hf(pair):
    family, model, ref, _, _ = pair
    t = text_tower(model, "a small red circle")
    batch = model.prepare(["a small red circle"])
    with torch.no_grad():
        r = ref.text_model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"], output_attentions=True)
    torch.testing.assert_close(t.probs, torch.stack([a[0] for a in r.attentions]), atol=1e-5, rtol=1e-5)
    assert t.causal == (family == "clip") and t.pool == model.text_pool_index(batch)[0]


def test_chefer_relevance_by_hand():
    a = torch.tensor([[[0.5, 0.5], [0.2, 0.8]]])  # (H=1, 2, 2)
    g = torch.tensor([[[1.0, -1.0], [2.0, 0.5]]])
    abar = torch.tensor([[0.5, 0.0], [0.4, 0.4]])  # (∇A ⊙ A)⁺, mean over one head
    R1 = torch.eye(2) + abar
    torch.testing.assert_close(chefer_relevance([a], [g]), R1)
    torch.testing.assert_close(chefer_relevance([a, a], [g, g]), R1 + abar @ R1)


def test_relevance_gradients_equal_autograd_through_hf_attention(pair):
    """The recorded ∂cos/∂A equal gradients taken through HF eager's own attention tensors; the shared model
    gets no .grad and keeps its weights."""
    family, model, ref, _, _ = pair
    img, caption = _images()[0], "a photo of a cat"
    batch = model.prepare(img)
    before = {n: p.detach().clone() for n, p in model.named_parameters()}
    got = relevance_map(model, batch, caption)
    assert all(p.grad is None for p in model.parameters())
    assert all(torch.equal(p, before[n]) for n, p in model.named_parameters())
    with torch.no_grad():
        text = model.text_embeddings([caption])
    vis = ref.vision_model(pixel_values=batch["pixel_values"], output_attentions=True)
    emb = vis.pooler_output if family == "siglip" else ref.visual_projection(vis.pooler_output)
    score = (torch.nn.functional.normalize(emb, dim=-1) * text).sum()
    grads = torch.autograd.grad(score, list(vis.attentions))
    R = chefer_relevance([a[0].detach() for a in vis.attentions], [g[0] for g in grads])
    want = model.image_pooling(batch)[0] @ R
    gh, gw = batch.grid
    torch.testing.assert_close(got, want[batch.num_prefix :].reshape(gh, gw), atol=1e-5, rtol=1e-4)


# ---- bad inputs: clear messages (XvizError), never a traceback ----------------------------------------------------
def test_bad_texts_and_images(pair):
    _, model, _, _, _ = pair
    with pytest.raises(InputError, match="No labels"):
        model.zero_shot(_images()[0], [])
    with pytest.raises(InputError, match="empty"):
        model.zero_shot(_images()[0], ["cat", "   "])
    with pytest.raises(InputError, match="limit"):
        model.zero_shot(_images()[0], [f"label {i}" for i in range(2000)])
    with pytest.raises(InputError, match="\\{\\}"):
        model.zero_shot(_images()[0], ["cat"], ["no placeholder"])
    long = model.prepare(["cat " * 5000])  # thousands of words: cut to the tower's length, end token kept
    assert long.truncated and long["input_ids"].shape[1] == model.text_max_tokens
    huge = Image.new("RGB", (4000, 300), (10, 200, 30))  # non-square and large: resized by the recipe
    assert model.similarity([huge], ["a green picture"]).shape == (1, 1)
    with pytest.raises(InputError, match="image"):
        model.similarity(["not an image"], ["a"])


def _without(folder, prefix, out):
    """A copy of a saved folder whose weights lack every tensor under `prefix`."""
    import shutil

    shutil.copytree(folder, out)
    sd = load_file(str(out / "model.safetensors"))
    save_file({k: v for k, v in sd.items() if not k.startswith(prefix)}, str(out / "model.safetensors"))
    return out


def test_missing_tower_or_tokenizer_is_a_message(tmp_path):
    folder = save_clip(tmp_path / "clip", layers=1)
    with pytest.raises(ModelLoadError, match="vision tower"):
        xviz.load_model(str(_without(folder, "vision_model.", tmp_path / "no_vision")))
    with pytest.raises(ModelLoadError, match="text tower"):
        xviz.load_model(str(_without(folder, "text_model.", tmp_path / "no_text")))
    bare = xviz.load_model(str(save_clip(tmp_path / "bare", layers=1, tokenizer=False)))
    assert not bare.has_tokenizer and bare.image_embeddings(_images()[0]).shape == (1, 512)
    with pytest.raises(XvizError, match="tokenizer"):
        bare.zero_shot(_images()[0], ["cat"])
