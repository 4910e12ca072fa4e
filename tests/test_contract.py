"""The model contract (xviz.models.contract.XvizModel): xviz's own registry models and the Hugging Face adapter
implement it, with values taken from their configs."""
import pytest
import torch

import xviz
from xviz.errors import ModelLoadError
from xviz.models.contract import KINDS, XvizModel
from xviz.models.loading import REGISTRY

torch.set_num_threads(1)

# registry name → (kind, num_layers, num_heads, num_kv_heads, max_positions, is_causal)
EXPECTED = {
    "minilm-l6": ("text", 6, 12, 12, 512, False),
    "dinov2-s14": ("image", 12, 6, 6, None, False),
    "swin-tiny": ("swin", 12, 3, 3, None, False),   # 2+2+6+2 blocks; the first stage's 3 heads
    "mae-small": ("mae", 4, 4, 4, None, False),     # the encoder's depth and heads
}
OWN = sorted(n for n in REGISTRY if n != "smollm2-135m")


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
    assert m.device == torch.device("cpu")
    assert m.num_heads == 0 or m.num_heads % m.num_kv_heads == 0
    assert m.note is None or isinstance(m.note, str)
    assert m.hook_names()


@pytest.mark.parametrize("name", OWN)
def test_registry_models_implement_the_contract(name):
    m = _load(name)
    _check(m, name)
    if name in EXPECTED:
        kind, L, H, Hkv, P, causal = EXPECTED[name]
        assert (m.kind, m.num_layers, m.num_heads, m.num_kv_heads, m.max_positions, m.is_causal) == \
            (kind, L, H, Hkv, P, causal)
        assert m.note.startswith(REGISTRY[name].description) or (name == "dinov2-s14" and "saliency" in m.note)
        assert m.kind in KINDS
        blocks = {h.split(".attn.")[0] for h in m.hook_names() if h.startswith("blocks.") and ".attn." in h}
        assert len(blocks) == m.num_layers  # one attention hook group per block
    assert m.kind == REGISTRY[name].kind


def test_swin_heads_per_block():
    m = _load("swin-tiny")
    assert [m.heads_of(i) for i in range(m.num_layers)] == [3, 3, 6, 6] + [12] * 6 + [24, 24]
    assert m.num_heads == min(m.heads_of(i) for i in range(m.num_layers))


def test_text_encoder_decode_and_batch_special(minilm):
    batch = minilm.prepare(["a b", "a longer sentence"])
    assert minilm.decode(batch["input_ids"][0, :2].tolist()) == batch.tokens[0][:2]
    assert batch.special[0] == [True, False, False, True, True]  # [CLS] a b [SEP] [PAD]


@pytest.fixture(scope="module")
def tiny_llama(tmp_path_factory):
    from lm_fixtures import save_tiny_llama
    return save_tiny_llama(tmp_path_factory.mktemp("llama"))


def test_hf_adapter_implements_the_contract(tiny_llama):
    m = xviz.load_model(str(tiny_llama))
    _check(m, str(tiny_llama))
    assert (m.kind, m.num_layers, m.num_heads, m.num_kv_heads, m.max_positions, m.is_causal) == \
        ("lm", 2, 4, 2, 64, True)
    batch = m.prepare(["ab ab", "a"], padding_side="left")
    assert batch.special[1][0] and not batch.special[1][-1]  # left padding is flagged from the mask, not strings
