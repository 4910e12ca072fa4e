"""The model contract (xviz.models.contract.XvizModel): xviz's own registry models and the Hugging Face adapter
implement it, with values taken from their configs."""

import pytest
import torch

import xviz
from xviz.errors import ModelLoadError
from xviz.models.contract import KINDS, XvizModel
from xviz.pretrained.zoo import ZOO

torch.set_num_threads(1)

# registry name → (kind, num_layers, num_heads, num_kv_heads, max_positions, is_causal)
EXPECTED = {
    "minilm-l6": ("text", 6, 12, 12, 512, False),
    "dinov2-s14": ("image", 12, 6, 6, None, False),
    "swin-tiny": ("swin", 12, 3, 3, None, False),  # 2+2+6+2 blocks; the first stage's 3 heads
    "mae-small": ("mae", 4, 4, 4, None, False),  # the encoder's depth and heads
    "mae-shapes": ("mae", 4, 4, 4, None, False),
    "swin-shapes": ("swin", 4, 2, 2, None, False),  # 2+2 blocks; the first stage's 2 heads
}
OWN = sorted(n for n in ZOO if n != "smollm2-135m")
# registry name → hidden_size: the residual width of the first stack (Swin: stage 1; MAE: the encoder; CNN: conv 1)
HIDDEN = {
    "minilm-l6": 384,
    "dinov2-s14": 384,
    "swin-tiny": 96,
    "mae-small": 128,
    "seq2seq-tiny": 128,
    "vit-digits": 64,
    "mixer-digits": 64,
    "fnet-digits": 64,
    "cnn-digits": 16,
    "clip-shapes": 64,  # the text tower's width (config.text_config.hidden_size)
    "swin-shapes": 64,
    "mae-shapes": 128,
    **dict.fromkeys(["copy-plain", "copy-pointer", "monotonic-plain", "monotonic-guided", "monotonic-location"], 128),
}


def _load(name):
    try:
        return xviz.load_model(name)
    except ModelLoadError as err:  # e.g. weights another task has not shipped yet
        pytest.skip(f"{name}: {err}")


def _check(m, name):
    assert isinstance(m, XvizModel)
    assert m.name == name
    assert isinstance(m.num_layers, int) and m.num_layers > 0
    assert isinstance(m.num_heads, int) and isinstance(m.num_kv_heads, int)  # 0 for attention-free mixers
    assert isinstance(m.hidden_size, int) and m.hidden_size > 0
    assert m.head_dim == (m.hidden_size // m.num_heads if m.num_heads else 0)
    assert m.device == torch.device("cpu")
    assert m.num_heads == 0 or m.num_heads % m.num_kv_heads == 0
    assert m.note is None or isinstance(m.note, str)
    assert m.hook_names()


@pytest.mark.parametrize("name", OWN)
def test_registry_models_implement_the_contract(name):
    m = _load(name)
    _check(m, name)
    assert m.hidden_size == HIDDEN[name]
    if name in EXPECTED:
        kind, L, H, Hkv, P, causal = EXPECTED[name]
        assert (m.kind, m.num_layers, m.num_heads, m.num_kv_heads, m.max_positions, m.is_causal) == (
            kind,
            L,
            H,
            Hkv,
            P,
            causal,
        )
        assert m.note.startswith(ZOO[name].description) or (name == "dinov2-s14" and "saliency" in m.note)
        assert m.kind in KINDS
        blocks = {h.split(".attn.")[0] for h in m.hook_names() if h.startswith("blocks.") and ".attn." in h}
        assert len(blocks) == m.num_layers  # one attention hook group per block
    assert m.kind == ZOO[name].kind


def test_swin_heads_per_block():
    m = _load("swin-tiny")
    assert [m.heads_of(i) for i in range(m.num_layers)] == [3, 3, 6, 6] + [12] * 6 + [24, 24]
    assert m.num_heads == min(m.heads_of(i) for i in range(m.num_layers))


def test_text_encoder_decode_and_batch_special(minilm):
    batch = minilm.prepare(["a b", "a longer sentence"])
    assert minilm.decode(batch["input_ids"][0, :2].tolist()) == batch.tokens[0][:2]
    assert batch.special[0] == [True, False, False, True, True]  # [CLS] a b [SEP] [PAD]


def test_hf_adapter_implements_the_contract(tiny_lm):
    m = xviz.load_model(tiny_lm)
    _check(m, tiny_lm)
    assert (m.kind, m.num_layers, m.num_heads, m.num_kv_heads, m.max_positions, m.is_causal, m.hidden_size) == (
        "lm",
        2,
        4,
        2,
        64,
        True,
        32,
    )
    batch = m.prepare(["ab ab", "a"], padding_side="left")
    assert batch.special[1][0] and not batch.special[1][-1]  # left padding is flagged from the mask, not strings


def test_hf_adapter_hidden_size_for_every_kind(tmp_path):
    """hidden_size from the HF config: BART's d_model (seq2seq), a ViT (image), CLIP's text tower (clip)."""
    T = pytest.importorskip("transformers")
    from xviz.adapters.hf import load_hf_model

    small = dict(hidden_size=32, intermediate_size=64, num_hidden_layers=1, num_attention_heads=4)
    models = {
        "seq2seq": T.BartForConditionalGeneration(
            T.BartConfig(
                vocab_size=50,
                d_model=24,
                encoder_layers=1,
                decoder_layers=1,
                encoder_attention_heads=4,
                decoder_attention_heads=4,
                encoder_ffn_dim=32,
                decoder_ffn_dim=32,
                max_position_embeddings=32,
            )
        ),
        "image": T.ViTModel(T.ViTConfig(image_size=16, patch_size=4, **small), add_pooling_layer=False),
        "clip": T.CLIPModel(
            T.CLIPConfig(
                text_config=dict(vocab_size=50, max_position_embeddings=16, **{**small, "hidden_size": 16}),
                vision_config=dict(image_size=16, patch_size=4, **small),
                projection_dim=8,
            )
        ),
    }
    for kind, hf in models.items():
        hf.save_pretrained(tmp_path / kind)
        m = load_hf_model(tmp_path / kind)
        assert (m.kind, m.hidden_size) == (kind, {"seq2seq": 24, "image": 32, "clip": 16}[kind])


# ---- one config vocabulary across xviz's own models ------------------------------------------------------------
OLD_NAMES = {
    "dim",
    "depth",
    "d_model",
    "heads",
    "ffn",
    "vocab",
    "in_chans",
    "embed_dim",
    "depths",
    "intermediate_size",
    "eps",
    "decoder_dim",
    "decoder_depth",
    "num_hidden_layers",
    "num_attention_heads",
}


def _configs():
    from xviz.models.attn_rnn import AttnRNNConfig
    from xviz.models.mae import MAEConfig
    from xviz.models.mixers import DigitConfig
    from xviz.models.seq2seq import Seq2SeqConfig
    from xviz.models.swin import SwinConfig
    from xviz.models.text_encoder import TextEncoderConfig
    from xviz.models.tiny_lm import LMConfig
    from xviz.models.vit import ViTConfig
    from xviz.train.live import TrainConfig

    return [
        TextEncoderConfig,
        ViTConfig,
        SwinConfig,
        MAEConfig,
        LMConfig,
        Seq2SeqConfig,
        DigitConfig,
        TrainConfig,
        AttnRNNConfig,
    ]


def test_configs_use_one_vocabulary():
    import dataclasses

    for cls in _configs():
        names = {f.name for f in dataclasses.fields(cls)}
        assert not names & OLD_NAMES, (cls.__name__, names & OLD_NAMES)
        assert {"hidden_size", "num_layers"} <= names or cls.__name__ == "SwinConfig", cls.__name__
    from xviz.models.swin import SwinConfig

    swin = {f.name for f in dataclasses.fields(SwinConfig)}
    assert {"hidden_size", "stage_layers", "stage_heads", "mlp_ratio"} <= swin  # per-stage tuples


def _fields(cfg, **expected):
    assert {k: getattr(cfg, k) for k in expected} == expected


def test_from_hf_maps_hf_config_keys():
    """Each model's one from_hf on a config.json as real checkpoints write it."""
    from xviz.models.mae_hf import config_from_hf as mae_from_hf
    from xviz.models.swin import SwinConfig
    from xviz.models.text_encoder import TextEncoderConfig
    from xviz.models.vit import config_from_hf as vit_from_hf

    bert = {
        "model_type": "bert",
        "vocab_size": 30522,
        "hidden_size": 384,
        "num_hidden_layers": 6,
        "num_attention_heads": 12,
        "intermediate_size": 1536,
        "max_position_embeddings": 512,
        "type_vocab_size": 2,
        "layer_norm_eps": 1e-12,
        "hidden_act": "gelu",
        "pad_token_id": 0,
    }
    _fields(
        TextEncoderConfig.from_hf(bert),
        vocab_size=30522,
        hidden_size=384,
        num_layers=6,
        num_heads=12,
        mlp_hidden=1536,
        max_positions=512,
        layer_norm_eps=1e-12,
        act="gelu",
    )
    vit = {
        "model_type": "vit",
        "hidden_size": 192,
        "num_hidden_layers": 12,
        "num_attention_heads": 3,
        "intermediate_size": 768,
        "image_size": 224,
        "patch_size": 16,
        "num_channels": 3,
        "layer_norm_eps": 1e-12,
        "hidden_act": "gelu",
        "qkv_bias": True,
    }
    _fields(
        vit_from_hf(vit),
        hidden_size=192,
        num_layers=12,
        num_heads=3,
        mlp_hidden=768,
        image_size=224,
        patch_size=16,
        num_channels=3,
        layer_norm_eps=1e-12,
        qkv_bias=True,
        distillation_token=False,
    )
    dino = {
        "model_type": "dinov2",
        "hidden_size": 384,
        "num_hidden_layers": 12,
        "num_attention_heads": 6,
        "mlp_ratio": 4,
        "image_size": 518,
        "patch_size": 14,
        "layer_norm_eps": 1e-6,
        "layerscale_value": 1.0,
    }
    _fields(vit_from_hf(dino), hidden_size=384, mlp_hidden=1536, image_size=518, patch_size=14, layer_scale=1.0)
    swin = {
        "model_type": "swin",
        "embed_dim": 96,
        "depths": [2, 2, 6, 2],
        "num_heads": [3, 6, 12, 24],
        "window_size": 7,
        "image_size": 224,
        "patch_size": 4,
        "num_channels": 3,
        "mlp_ratio": 4.0,
        "layer_norm_eps": 1e-5,
        "hidden_act": "gelu",
        "qkv_bias": True,
        "use_absolute_embeddings": False,
    }
    _fields(
        SwinConfig.from_hf(swin),
        hidden_size=96,
        stage_layers=(2, 2, 6, 2),
        stage_heads=(3, 6, 12, 24),
        window_size=7,
        num_channels=3,
        mlp_ratio=4.0,
        layer_norm_eps=1e-5,
        abs_pos=False,
    )
    mae = {
        "model_type": "vit_mae",
        "hidden_size": 768,
        "num_hidden_layers": 12,
        "num_attention_heads": 12,
        "intermediate_size": 3072,
        "decoder_hidden_size": 512,
        "decoder_num_hidden_layers": 8,
        "decoder_num_attention_heads": 16,
        "decoder_intermediate_size": 2048,
        "image_size": 224,
        "patch_size": 16,
        "num_channels": 3,
        "mask_ratio": 0.75,
        "norm_pix_loss": False,
        "layer_norm_eps": 1e-12,
        "hidden_act": "gelu",
        "qkv_bias": True,
    }
    _fields(
        mae_from_hf(mae),
        hidden_size=768,
        num_layers=12,
        num_heads=12,
        mlp_hidden=3072,
        decoder_hidden_size=512,
        decoder_layers=8,
        decoder_heads=16,
        decoder_mlp_hidden=2048,
        image_size=(224, 224),
        num_channels=3,
        layer_norm_eps=1e-12,
    )


@pytest.mark.parametrize("name", ["swin-tiny", "vit-digits", "mae-small"])
def test_image_record_estimate_reads_the_contract_and_bounds_swin(name):
    """estimate_image_record_bytes works for every image-like model; for Swin it is an upper bound."""
    from xviz.analysis.image_run import IMAGE_HOOKS, estimate_image_record_bytes

    m = _load(name)
    n = 16 * 16
    assert estimate_image_record_bytes(m, n) == 4 * m.num_layers * (m.num_heads * n * n + n * m.hidden_size)
    if name == "swin-tiny":  # 64 px, patch 4: a 16 × 16 grid at stage 1
        with torch.no_grad(), xviz.record(m, names=IMAGE_HOOKS[1:]) as rec:
            m(torch.zeros(1, 3, 64, 64))
        assert 0 < rec.nbytes() <= estimate_image_record_bytes(m, n)
