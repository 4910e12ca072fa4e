"""The three models trained by xviz on the shapes world reproduce the numbers their folders / files state (and the
README and zoo repeat), on the same fixed held-out scenes: clip-shapes through transformers' CLIPModel and through
xviz.load_model, swin-shapes through SwinForImageClassification (and xviz's own Swin records HF's attention),
mae-shapes through xviz's MAE and the quality benchmark's PSNR."""

import copy
import json
import pickle
from pathlib import Path

import pytest
import torch

import xviz
from xviz.analysis.mae import quality
from xviz.data import shapes
from xviz.models._checkpoint import read_file_meta
from xviz.pretrained.zoo import WEIGHTS_DIR, ZOO
from xviz.train import shapes_clip, shapes_mae, shapes_swin

T = pytest.importorskip("transformers")
torch.set_num_threads(1)
CLIP_DIR, SWIN_DIR = WEIGHTS_DIR / "clip_shapes", WEIGHTS_DIR / "swin_shapes"
MAE_FILE = WEIGHTS_DIR / "mae_shapes.safetensors"


def _meta(folder: Path) -> dict:
    return json.loads((folder / "xviz_shapes.json").read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def clip():
    model = T.CLIPModel.from_pretrained(str(CLIP_DIR), attn_implementation="eager").eval()
    return model, T.AutoTokenizer.from_pretrained(str(CLIP_DIR))


def test_shipped_files_are_small_and_named_in_the_zoo():
    for path in (CLIP_DIR / "model.safetensors", SWIN_DIR / "model.safetensors", MAE_FILE):
        assert path.stat().st_size < 10e6, path
    assert (ZOO["clip-shapes"].kind, ZOO["swin-shapes"].kind, ZOO["mae-shapes"].kind) == ("clip", "swin", "mae")
    held = _meta(CLIP_DIR)["metrics"]["zero_shot_held_out"]
    assert f"{100 * held:.1f} %" in ZOO["clip-shapes"].description  # the headline number, as measured
    assert f"{100 * _meta(SWIN_DIR)['metrics']['accuracy']:.1f} %" in ZOO["swin-shapes"].description


def test_clip_tokenizer_and_processor_load_offline_and_agree(clip):
    model, tok = clip
    cfg = model.config.text_config
    assert (tok.eos_token_id, tok.bos_token_id, tok.pad_token_id) == (cfg.eos_token_id, cfg.bos_token_id, 0)
    assert cfg.eos_token_id != 2  # 2 would switch transformers' CLIP to its legacy argmax pooling
    captions = [s.caption for s in shapes.render_scenes("test", 0, 200)]
    ids = tok(captions)["input_ids"]
    assert all(i[0] == tok.bos_token_id and i[-1] == tok.eos_token_id and tok.unk_token_id not in i for i in ids)
    scenes = shapes.render_scenes("test", 0, 3)
    pv = T.AutoImageProcessor.from_pretrained(str(CLIP_DIR))([s.image for s in scenes], return_tensors="pt")
    torch.testing.assert_close(torch.as_tensor(pv["pixel_values"]), shapes.normalise(shapes.to_tensor(scenes)))


def test_clip_text_features_pool_at_eos(clip):
    model, tok = clip
    batch = tok(["a red circle", "a small blue square above an orange triangle"], padding=True, return_tensors="pt")
    with torch.no_grad():
        hidden = model.text_model(**batch).last_hidden_state  # (B, N, C) after the final LayerNorm
        eos = batch["attention_mask"].sum(1) - 1  # (B,) the last real token
        assert (batch["input_ids"][torch.arange(2), eos] == tok.eos_token_id).all()
        manual = model.text_projection(hidden[torch.arange(2), eos])  # (B, P)
        torch.testing.assert_close(model.get_text_features(**batch).pooler_output, manual)


def test_clip_reproduces_its_stated_numbers(clip):
    stated = _meta(CLIP_DIR)["metrics"]
    got = shapes_clip.evaluate(*clip)
    for key, value in stated.items():
        assert got[key] == pytest.approx(value, abs=2e-3), key
    assert got["zero_shot_seen"] > 0.5 and got["retrieval_r1"] > 0.3  # far above chance (1/18, ~1/500)


def test_clip_zero_shot_through_xviz_load_model():
    model = xviz.load_model("clip-shapes")
    assert model.kind == "clip"
    scenes, targets = shapes_clip.zero_shot_scenes(sorted(shapes.HELD_OUT), 100)
    images = [s.image for s in scenes]
    chunks = [images[i : i + 50] for i in range(0, len(images), 50)]  # the API takes ≤ 64 images per call
    probs = torch.cat([model.zero_shot(c, shapes.label_phrases(), ["{}"]) for c in chunks])  # (n, 18)
    acc = float((probs.argmax(-1) == targets).float().mean())
    assert acc == pytest.approx(_meta(CLIP_DIR)["metrics"]["zero_shot_held_out"], abs=2e-3)


def test_swin_reproduces_its_held_out_accuracy():
    hf = T.SwinForImageClassification.from_pretrained(str(SWIN_DIR)).eval()
    stated = _meta(SWIN_DIR)["metrics"]
    got = shapes_swin.evaluate(hf)
    assert got == pytest.approx(stated, abs=1e-3)
    assert got["accuracy"] > 0.5  # chance is 1/18


def _hf_block_probs(hf):
    """Every HF Swin block's attention probabilities (a forward hook per block's attention module)."""
    out, handles = [], []
    for stage in hf.swin.encoder.layers:
        for blk in stage.blocks:
            handles.append(blk.attention.register_forward_hook(lambda m, i, o: out.append(o[1])))
    return out, handles


def test_swin_shapes_loads_into_xviz_and_records_hf_eager_attention():
    ours = xviz.load_model("swin-shapes")
    assert (ours.kind, ours.backend, ours.num_layers, ours.cfg.window_size) == ("swin", "xviz", 4, 4)
    assert ours.cfg.image_mean == shapes.MEAN  # preprocessor_config.json was read
    scenes = shapes.render_scenes("test", 0, 3)
    x = torch.cat([ours.prepare(s.image)["pixel_values"] for s in scenes])  # (3, 3, 64, 64)
    torch.testing.assert_close(x, shapes.normalise(shapes.to_tensor(scenes)))
    hf = T.SwinForImageClassification.from_pretrained(str(SWIN_DIR), attn_implementation="eager").eval()
    probs, handles = _hf_block_probs(hf)
    with torch.no_grad():
        ref = hf.swin(pixel_values=x)
        with xviz.record(ours, names="*.attn.hook_probs") as rec:
            out = ours(x)
    for h in handles:
        h.remove()
    torch.testing.assert_close(out.last_hidden_state, ref.last_hidden_state, atol=1e-5, rtol=1e-5)
    for i, p in enumerate(probs):
        torch.testing.assert_close(rec["probs", i], p, atol=1e-6, rtol=1e-5)  # (B·nW, H, 16, 16)
    assert rec["probs", 0].shape == (3 * 16, 2, 16, 16)  # 16 × 16 tokens in 4 × 4 windows, 2 heads


def test_mae_reproduces_its_psnr_and_beats_both_fills():
    model = xviz.load_model("mae-shapes")
    meta = read_file_meta(MAE_FILE, "MAE")
    stated = json.loads(meta["metrics"])
    q = quality(model, shapes_mae.eval_views(48), 0.75, range(2))
    assert q["model"] == pytest.approx(stated["psnr_model"], abs=0.01)
    assert q["mean_fill"] == pytest.approx(stated["psnr_mean_fill"], abs=0.01)
    assert q["nearest_fill"] == pytest.approx(stated["psnr_nearest_fill"], abs=0.01)
    assert q["model"] - q["mean_fill"] >= 3.0  # measured +3.5 dB; issue 21 aimed at 6 (README: not reached)
    assert q["model"] - q["nearest_fill"] >= 4.5  # measured +5.1 dB


@pytest.mark.parametrize("name", ["swin-shapes", "mae-shapes"])
def test_shapes_models_pickle_and_deepcopy(name):
    model = xviz.load_model(name)
    x = shapes.normalise(shapes.to_tensor(shapes.render_scenes("test", 0, 2)))
    kw = {"pixel_values": x}
    masking = None
    if name == "mae-shapes":
        masking = model.masking(2, model.cfg.grid, 0.75, generator=torch.Generator().manual_seed(0))
        kw["masking"] = masking
    ref = model(**kw)
    for other in (pickle.loads(pickle.dumps(model)), copy.deepcopy(model)):
        got = other(**kw)
        key = "pred" if name == "mae-shapes" else "last_hidden_state"
        assert torch.equal(getattr(got, key), getattr(ref, key))
