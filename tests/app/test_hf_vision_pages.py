"""AppTest: Hugging Face vision folders (default-config shapes, 2 blocks, random weights) on the image pages, added
as custom models the way the sidebar's "Add a model" does: BEiT / CLIP-vision / SigLIP-vision through the adapter
and DeiT through xviz's own ViT on the Attention page (Image), a Swin-T-shaped folder on the Swin page, a
ViTMAE-B-shaped one on the MAE page; SigLIP (no CLS token) on every image tab."""

import numpy as np
import pytest
import torch
from helpers import app_test, figure_titled, figure_titles, plotly_array
from vision_fixtures import config, save_family

import xviz
from xviz.samples import load_sample

ATTENTION = "views/attention.py"
TABS = ["Attention map", "Overview", "Rollout", "Statistics", "Collapse", "Export"]


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    return lambda family: str(save_family(family, tmp_path_factory.mktemp(family)))


def _on(page: str, kind: str, path: str, query: dict | None = None):
    at = app_test(page, query=query, state={f"custom_models_{kind}": [path], f"model_{kind}": path})
    assert not at.exception, [e.value for e in at.exception]
    return at


def _patch_values(fig) -> np.ndarray:
    scatter = next(t for t in fig["data"] if t.get("type") == "scatter" and "customdata" in t)
    return plotly_array(scatter["customdata"])[:, 2]


@pytest.mark.parametrize("family", ["beit", "clip_vision_model", "deit"])
def test_attention_page_shows_the_models_cls_map(folder, family):
    path = folder(family)
    at = _on(ATTENTION, "image", path, {"attn_mode": "Image"})
    assert not at.error, [e.value for e in at.error]
    fig = figure_titled(at, "CLS → patches, layer 1, mean of heads", match="contains")
    model = xviz.load_model(path)
    batch = model.prepare(load_sample("chelsea"), size=224)
    with torch.no_grad(), xviz.record(model, names="*.hook_probs") as rec:
        model(**batch)
    want = rec["probs", 1][0, :, 0, batch.num_prefix :].mean(0)
    np.testing.assert_allclose(_patch_values(fig), want.numpy(), rtol=1e-5, atol=1e-7)


def test_siglip_without_cls_on_every_tab(folder):
    at = _on(ATTENTION, "image", folder("siglip_vision_model"), {"attn_mode": "Image"})
    assert not at.error and at.radio(key="img_query").options == ["Patch"]
    assert "patch (" in figure_titles(at) and any("no CLS token" in c.value for c in at.caption)
    for tab in TABS:
        at.session_state["img_tab"] = tab
        at.run()
        assert not at.exception and not at.error, (tab, [e.value for e in at.exception])
    at.session_state["img_tab"] = "Rollout"
    at.run()
    assert "rollout into the patch" in figure_titles(at)


def test_vit_mae_encoder_folder_gets_a_message(folder):
    """An encoder-only ViTMAEModel folder: xviz's own MAE needs the decoder; the page says so, no traceback."""
    at = _on(ATTENTION, "image", folder("vit_mae"), {"attn_mode": "Image"})
    assert any("decoder" in e.value for e in at.error)


def test_swin_t_shaped_folder_on_the_swin_page(folder):
    at = _on("views/swin.py", "swin", folder("swin"), {"swin_view": "Real attention"})
    assert not at.error and "W-MSA" in figure_titles(at)
    at.radio(key="swin_view").set_value("Relative position").run()
    assert not at.exception and not at.error and "table, block 0" in figure_titles(at)


@pytest.fixture(scope="module")
def mae_folder(tmp_path_factory):
    """ViTMAEForPreTraining of the default config (ViTMAE-B encoder, 2 blocks; decoder 2 blocks), sin-cos tables
    filled (transformers leaves them at zero in a fresh model; checkpoints hold them)."""
    import transformers as T
    from transformers.models.vit_mae.modeling_vit_mae import build_2d_sinusoidal_position_embedding

    cfg = config("vit_mae")
    cfg.decoder_num_hidden_layers = 2
    torch.manual_seed(0)
    hf = T.ViTMAEForPreTraining(cfg).eval()
    with torch.no_grad():
        for table in (hf.vit.embeddings.position_embeddings, hf.decoder.decoder_pos_embed):
            d = table.shape[-1]
            t = build_2d_sinusoidal_position_embedding(14, 14, d, cls_token=True)
            table.copy_(torch.cat([t[..., d // 2 :], t[..., : d // 2]], dim=-1))  # HF's half swap
    path = tmp_path_factory.mktemp("mae")
    hf.save_pretrained(path)
    return str(path)


def test_vit_mae_b_shaped_folder_on_the_mae_page(mae_folder):
    at = _on("views/mae.py", "mae", mae_folder)
    assert not at.error, [e.value for e in at.error]
    assert "PSNR on hidden pixels" in " ".join(m.label for m in at.metric)
    at.radio(key="mae_view").set_value("Side by side").run()
    assert not at.exception and not at.error
