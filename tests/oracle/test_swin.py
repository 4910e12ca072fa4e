"""Swin model: parity with transformers.SwinModel (eager) on random-init checkpoints saved by the test, the
HF key conversion (on-disk and in-memory names), and the untrained registry model."""

import numpy as np
import pytest
import torch
from helpers import hf_swin
from PIL import Image

import xviz
from xviz.errors import ModelLoadError
from xviz.models._checkpoint import load_converted
from xviz.models.swin import Swin, SwinConfig
from xviz.models.swin_convert import convert_hf_swin
from xviz.pretrained.zoo import ZOO


def _hf_trace(hf):
    """Per-block outputs and attention probabilities of every HF Swin block (test-local model)."""
    out, handles = {}, []
    enc = hf.swin.encoder if hasattr(hf, "swin") else hf.encoder
    for s, stage in enumerate(enc.layers):
        for j, blk in enumerate(stage.blocks):
            handles.append(
                blk.attention.register_forward_hook(lambda m, i, o, key=(s, j): out.__setitem__(("probs",) + key, o[1]))
            )
            handles.append(
                blk.register_forward_hook(lambda m, i, o, key=(s, j): out.__setitem__(("hidden",) + key, o[0]))
            )
    return out, handles


@pytest.fixture(scope="module")
def hf_dir(tmp_path_factory):
    hf = hf_swin()
    path = tmp_path_factory.mktemp("swin") / "tiny"
    hf.save_pretrained(path)
    return hf, path


def test_parity_with_transformers(hf_dir):
    """36 px / patch 2 → 18×18 (padded to 20 for M = 4), 9×9 (padded to 12), 5×5: padding, masks and shifts."""
    hf, path = hf_dir
    ours = xviz.load_model(str(path))
    assert ours.kind == "swin" and len(ours.blocks) == 6 and len(ours.merges) == 2
    x = torch.randn(2, 3, 36, 36, generator=torch.Generator().manual_seed(2))
    trace, handles = _hf_trace(hf)
    with torch.no_grad():
        ref = hf(x)
        with xviz.record(ours, names=["*.attn.hook_probs", "*.hook_resid_post"]) as rec:
            out = ours(x)
    for h in handles:
        h.remove()
    torch.testing.assert_close(out.last_hidden_state, ref.last_hidden_state, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(out.pooled, ref.pooler_output, atol=1e-5, rtol=1e-5)
    i = 0
    for s in range(3):
        for j in range(2):
            probs = rec["probs", i]
            assert probs.shape == trace["probs", s, j].shape  # (B·nW, H, M², M²)
            torch.testing.assert_close(probs, trace["probs", s, j], atol=1e-6, rtol=1e-5)
            torch.testing.assert_close(rec["resid_post", i], trace["hidden", s, j], atol=1e-5, rtol=1e-5)
            i += 1
    assert rec["probs", 0].shape == (2 * 25, 2, 16, 16)
    # SW-MSA block of stage 1: the corner window of each image has 4 regions; forbidden pairs get −100 added to
    # their logits (official Swin): on these random weights, probabilities below e^−90
    corner = rec["probs", 1][24]
    assert (corner < 1e-39).sum() > 0 and torch.allclose(corner.sum(-1), torch.ones(2, 16))


def test_classification_checkpoint_and_in_memory_names(hf_dir, tmp_path):
    hf = hf_swin("SwinForImageClassification", seed=3, num_labels=5)
    hf.save_pretrained(tmp_path)
    ours = xviz.load_model(str(tmp_path))
    x = torch.randn(1, 3, 36, 36, generator=torch.Generator().manual_seed(4))
    with torch.no_grad():
        ref = hf.swin(x).last_hidden_state
        torch.testing.assert_close(ours(x).last_hidden_state, ref, atol=1e-5, rtol=1e-5)
    # transformers ≥ 5 module names (q_proj, o_proj, mlp.fc1, relative_position_bias.*) convert too
    cfg = ours.cfg
    fresh = load_converted(Swin(cfg), convert_hf_swin(hf.state_dict(), cfg), "memory")
    with torch.no_grad():
        torch.testing.assert_close(fresh.eval()(x).last_hidden_state, ref, atol=1e-5, rtol=1e-5)


def test_absolute_position_embeddings(tmp_path):
    hf = hf_swin(seed=5, use_absolute_embeddings=True)
    hf.save_pretrained(tmp_path)
    ours = xviz.load_model(str(tmp_path))
    x = torch.randn(1, 3, 36, 36, generator=torch.Generator().manual_seed(6))
    with torch.no_grad():
        torch.testing.assert_close(ours(x).last_hidden_state, hf(x).last_hidden_state, atol=1e-5, rtol=1e-5)


def test_bad_checkpoints_give_messages(tmp_path):
    (tmp_path / "config.json").write_text('{"model_type": "swin", "embed_dim": 16}')
    with pytest.raises(ModelLoadError, match="not a valid Swin config"):
        xviz.load_model(str(tmp_path))


def test_swin_tiny_registry_is_untrained_and_records_windows():
    entry = ZOO["swin-tiny"]
    assert entry.kind == "swin" and entry.trained is False and "random" in entry.description
    model = xviz.load_model("swin-tiny")
    again = xviz.load_model("swin-tiny")
    assert torch.equal(model.blocks[3].rel_bias.table, again.blocks[3].rel_bias.table)  # seeded, reproducible
    img = Image.fromarray(np.random.default_rng(0).integers(0, 255, (300, 200, 3), dtype=np.uint8))
    batch = model.prepare(img)
    assert batch["pixel_values"].shape == (1, 3, 224, 224) and batch.array.shape == (224, 224, 3)
    assert batch.image.size == (224, 224) and batch.grid == (56, 56) and batch.num_prefix == 0
    with torch.no_grad(), xviz.record(model, names="blocks.1.attn.hook_probs") as rec:
        out = model(**batch)
    assert out.grid == (7, 7) and out.last_hidden_state.shape == (1, 49, 768)
    probs = rec["probs", 1]  # SW-MSA at 56×56, M = 7: 64 windows × 3 heads × 49 × 49
    assert probs.shape == (64, 3, 49, 49)
    from xviz.layers.windows import shifted_window_mask

    forbidden = ~shifted_window_mask(56, 56, 7, 3)[:, None].expand_as(probs)
    assert (probs[forbidden] < 1e-39).all() and (probs[~forbidden] > 1e-6).all()  # −100 on forbidden logits
    assert model.block_grid(4) == (14, 14) and model.block_grid(11) == (7, 7)


def test_config_defaults_are_swin_t():
    cfg = SwinConfig()
    assert cfg.stage_dims() == [96, 192, 384, 768] and cfg.window_size == 7
