"""Small random-init causal LMs for the circuit tests (patching, attribution, QK/OV), saved with save_pretrained:
weights drawn with a larger spread than HF's init (std 0.3, norms around 1 with noise, non-zero biases), so logit
differences are O(1) and every weight matters. The tests feed token ids; the folders carry a word-level tokenizer
("t0" … "t{V-1}", one id per word) only because TransformerLens's loader wants one."""

from __future__ import annotations

from pathlib import Path

import torch


def _randomise(model, seed: int) -> None:
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in model.named_parameters():
            noise = torch.randn(p.shape, generator=g)
            if "norm" in name or ".ln_" in name or name.startswith("transformer.ln_f"):
                p.copy_(1.0 + 0.3 * noise if name.endswith("weight") else 0.1 * noise)
            elif name.endswith("bias"):
                p.copy_(0.1 * noise)
            else:
                p.copy_(0.3 * noise)


def _save_tokenizer(folder: Path, vocab: int) -> None:
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.WordLevel({f"t{i}": i for i in range(vocab)}, unk_token="t0"))
    tok.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    fast = PreTrainedTokenizerFast(tokenizer_object=tok, unk_token="t0", pad_token="t0", bos_token="t1", eos_token="t2")
    fast.save_pretrained(folder)


def save_llama(folder: Path, seed: int = 0, layers: int = 3, vocab: int = 101) -> Path:
    """Llama with grouped-query attention (4 query / 2 KV heads), RMSNorm, SwiGLU, RoPE, untied head."""
    from transformers import LlamaConfig, LlamaForCausalLM

    cfg = LlamaConfig(
        vocab_size=vocab,
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=layers,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=64,
        bos_token_id=1,
        eos_token_id=2,
        pad_token_id=0,
        tie_word_embeddings=False,
    )
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = LlamaForCausalLM(cfg)
    _randomise(model, seed)
    model.save_pretrained(folder)
    _save_tokenizer(folder, vocab)
    return Path(folder)


def save_gpt2(folder: Path, seed: int = 0, layers: int = 3, vocab: int = 120) -> Path:
    """GPT-2: LayerNorm with biases, learned positions, fused c_attn, biases everywhere, tied head."""
    from transformers import GPT2Config, GPT2LMHeadModel

    cfg = GPT2Config(vocab_size=vocab, n_positions=64, n_embd=32, n_layer=layers, n_head=4, bos_token_id=0,
                     eos_token_id=0)  # fmt: skip
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = GPT2LMHeadModel(cfg)
    _randomise(model, seed)
    model.save_pretrained(folder)
    _save_tokenizer(folder, vocab)
    return Path(folder)


def pair(vocab: int, n: int = 8, pairs: int = 1, seed: int = 0, at: int = 3):
    """(clean, corrupt) (P, n) ids differing at position `at` only, and answer / wrong ids (P,)."""
    g = torch.Generator().manual_seed(seed)
    clean = torch.randint(3, vocab, (pairs, n), generator=g)
    corrupt = clean.clone()
    shift = lambda t: (t - 3 + 1 + torch.randint(0, vocab - 4, t.shape, generator=g)) % (vocab - 3) + 3  # noqa: E731 ≠ t
    corrupt[:, at] = shift(clean[:, at])
    answer = torch.randint(3, vocab, (pairs,), generator=g)
    wrong = shift(answer)
    return clean, corrupt, answer, wrong
