import copy

import numpy as np
import pytest
import torch

import xviz
from xviz.errors import ModelLoadError
from xviz.layers.patches import patchify, random_masking
from xviz.layers.pos_embed import sincos_2d
from xviz.models.mae import MAE, MAEConfig, masked_mse, patch_targets

TINY = MAEConfig(
    image_size=(32, 32),
    patch_size=8,
    hidden_size=32,
    num_layers=2,
    num_heads=4,
    mlp_hidden=64,
    decoder_hidden_size=16,
    decoder_layers=2,
    decoder_heads=2,
    decoder_mlp_hidden=32,
)


def _tiny(norm_pix=False, seed=0):
    cfg = MAEConfig(**{**TINY.to_json(), "norm_pix_loss": norm_pix})
    return MAE(cfg).init_weights(torch.Generator().manual_seed(seed)).eval()


def _hf_tiny(tmp_path, norm_pix: bool, image_size=32):
    transformers = pytest.importorskip("transformers")
    cfg = transformers.ViTMAEConfig(
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=4,
        intermediate_size=64,
        decoder_hidden_size=16,
        decoder_num_hidden_layers=2,
        decoder_num_attention_heads=2,
        decoder_intermediate_size=32,
        image_size=image_size,
        patch_size=8,
        norm_pix_loss=norm_pix,
        attn_implementation="eager",
    )
    torch.manual_seed(0)  # HF's own init; only in the test process
    hf = transformers.ViTMAEForPreTraining(cfg).eval()
    with torch.no_grad():  # make biases / LayerNorms / tokens non-trivial so the mapping is really exercised
        for name, p in hf.named_parameters():
            if "position" not in name and "pos_embed" not in name:
                p.add_(0.05 * torch.randn_like(p))
        # transformers 5.23 leaves both fixed tables at zero for a fresh model (hub checkpoints hold the real
        # ones): fill them as HF's own initialize_weights does, with HF's builder and its half swap
        for table in (hf.vit.embeddings.position_embeddings, hf.decoder.decoder_pos_embed):
            table.copy_(_hf_sincos(image_size // 8, table.shape[-1])[None])
    hf.save_pretrained(tmp_path)
    return hf


def _hf_sincos(grid: int, dim: int) -> torch.Tensor:
    from transformers.models.vit_mae.modeling_vit_mae import build_2d_sinusoidal_position_embedding

    t = build_2d_sinusoidal_position_embedding(grid, grid, dim, cls_token=True)
    return torch.cat([t[..., dim // 2 :], t[..., : dim // 2]], dim=-1)  # HF: "rotate h/w blocks" to MAE's layout


@pytest.mark.parametrize("norm_pix", [False, True])
def test_parity_with_hf_vit_mae(tmp_path, norm_pix):
    hf = _hf_tiny(tmp_path, norm_pix)
    ours = xviz.load_model(str(tmp_path))
    assert ours.kind == "mae" and ours.cfg.norm_pix_loss == norm_pix
    # our fixed tables are our own sincos_2d (the checkpoint's agreed, nothing was copied over them)
    assert torch.equal(ours.pos_embed[0], sincos_2d(4, 4, 32, cls_token=True))
    assert torch.equal(ours.decoder_pos_embed[0], sincos_2d(4, 4, 16, cls_token=True))
    assert hf.vit.embeddings.position_embeddings.abs().sum() > 10
    g = torch.Generator().manual_seed(1)
    x, noise = torch.randn(3, 3, 32, 32, generator=g), torch.rand(3, 16, generator=g)
    with torch.no_grad():
        ref = hf(pixel_values=x, noise=noise)
        out = ours(x, noise=noise)
    assert torch.equal(out.is_masked, ref.mask.bool())
    assert torch.equal(out.ids_restore, ref.ids_restore)
    torch.testing.assert_close(out.pred, ref.logits, atol=2e-5, rtol=1e-4)
    torch.testing.assert_close(out.loss, ref.loss, atol=2e-6, rtol=1e-5)
    # the shared random_masking gives HF's mask from the same noise
    _, is_masked, ids_restore = random_masking(3, 16, 0.75, noise=noise)
    assert torch.equal(is_masked, ref.mask.bool()) and torch.equal(ids_restore, ref.ids_restore)


def test_sincos_tables_equal_hf_fixed_tables():
    pytest.importorskip("transformers")
    for grid, dim in [(6, 32), (14, 768), (7, 16)]:
        torch.testing.assert_close(sincos_2d(grid, grid, dim, cls_token=True), _hf_sincos(grid, dim))
    # MAE layout trap: the first half encodes the column: tokens 0 and 1 (same row) differ there only
    t = sincos_2d(3, 3, 8)
    assert not torch.equal(t[0, :4], t[1, :4]) and torch.equal(t[0, 4:], t[1, 4:])


def test_hook_names_and_encoder_sees_visible_only():
    model = _tiny()
    x = torch.randn(2, 3, 32, 32)
    with xviz.record(model, names="*") as rec:
        out = model(x, mask_ratio=0.75, generator=torch.Generator().manual_seed(0))
    keep = int(16 * 0.25)
    assert rec["blocks.0.attn.hook_probs"].shape == (2, 4, 1 + keep, 1 + keep)  # CLS + visible
    assert rec["blocks.1.hook_resid_post"].shape == (2, 1 + keep, 32)
    assert rec["decoder_blocks.0.attn.hook_probs"].shape == (2, 2, 17, 17)  # CLS + every patch
    assert rec["hook_pred"].shape == out.pred.shape == (2, 16, 8 * 8 * 3)


def test_loss_ignores_visible_patches():
    model = _tiny()
    x = torch.randn(2, 3, 32, 32)
    out = model(x, generator=torch.Generator().manual_seed(3))
    pred = out.pred.detach().clone()
    pred[~out.is_masked] = 1e3 * torch.randn_like(pred[~out.is_masked])  # garbage on visible patches
    assert torch.equal(model.forward_loss(x, pred, out.is_masked), model.forward_loss(x, out.pred, out.is_masked))
    pred2 = out.pred.detach().clone()
    pred2[out.is_masked] += 0.1
    assert model.forward_loss(x, pred2, out.is_masked) != model.forward_loss(x, out.pred, out.is_masked)
    # value: mean over hidden patches of the per-patch MSE
    target = patchify(x, 8)
    per = ((out.pred - target) ** 2).mean(-1)
    torch.testing.assert_close(out.loss, per[out.is_masked].mean())


def test_norm_pix_target_uses_unbiased_variance():
    x = torch.rand(1, 3, 16, 16)
    t = patch_targets(x, 8, norm_pix=True)
    raw = patchify(x, 8)
    n = raw.shape[-1]
    mean = raw.sum(-1, keepdim=True) / n
    var = ((raw - mean) ** 2).sum(-1, keepdim=True) / (n - 1)  # unbiased
    torch.testing.assert_close(t, (raw - mean) / torch.sqrt(var + 1e-6))
    # a flat patch: variance 0 → target 0 (the 1e-6 keeps it finite)
    flat = patch_targets(torch.full((1, 3, 8, 8), 0.3), 8, norm_pix=True)
    assert torch.isfinite(flat).all() and flat.abs().max() < 1e-3
    assert masked_mse(t, t, torch.ones(1, 4, dtype=torch.bool)) == 0


def test_strategies_and_masking_argument_reproducible():
    model = _tiny()
    x = torch.randn(1, 3, 32, 32)
    for strategy in ("random", "block", "grid"):
        a = model(x, 0.5, generator=torch.Generator().manual_seed(5), strategy=strategy)
        b = model(x, 0.5, generator=torch.Generator().manual_seed(5), strategy=strategy)
        assert torch.equal(a.pred, b.pred) and int((~a.is_masked).sum()) == 8


def test_non_default_image_size_uses_fresh_sincos_table():
    model = _tiny()
    out = model(torch.randn(1, 3, 48, 40), 0.75, generator=torch.Generator().manual_seed(0))
    assert out.pred.shape == (1, 30, 192) and torch.isfinite(out.loss)


def test_registry_mae_small_loads_and_reconstructs():
    from xviz.analysis.mae import reconstruct
    from xviz.samples import load_sample

    model = xviz.load_model("mae-small")
    assert model.kind == "mae" and not model.cfg.norm_pix_loss
    pv = model.prepare(load_sample("astronaut"))["pixel_values"]
    r = reconstruct(model, pv, "random", 0.75, seed=0)
    assert r.original.shape == r.pasted.shape == (*model.cfg.image_size, 3)
    # trained: clearly better than flat colour on a training image (held-out quality: the benchmark's job)
    assert r.psnr_masked > r.psnr_mean_fill + 1.0
    # pasted = x·(1 − mask) + pred·mask: visible pixels are exactly the original's
    vis = ~r.is_masked.repeat(8, 0).repeat(8, 1)
    assert np.allclose(r.pasted[vis], r.original[vis]) and not np.allclose(r.pasted, r.recon)


def test_loader_errors(tmp_path):
    (tmp_path / "config.json").write_text('{"model_type": "vit_mae", "hidden_size": 32}')
    with pytest.raises(ModelLoadError, match="decoder"):
        xviz.load_model(str(tmp_path))


def test_cached_model_untouched_by_finetune():
    from xviz.analysis.mae_train import finetune

    model = _tiny()
    before = copy.deepcopy(model.state_dict())
    seen = []
    tuned, losses = finetune(
        model, torch.randn(1, 3, 32, 32), steps=3, batch_size=2, progress=lambda i, loss: seen.append(i)
    )
    assert seen == [1, 2, 3] and len(losses) == 3 and not tuned.training
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())
    assert not torch.equal(tuned.decoder_pred.weight, model.decoder_pred.weight)
