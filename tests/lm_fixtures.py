"""A tiny random-init causal LM (Llama, GQA: 4 query / 2 KV heads) with a byte-level BPE tokenizer, saved with
save_pretrained: what the text pages are tested on when SmolLM2 is not fetched (and in fast tests)."""
from __future__ import annotations

from pathlib import Path

CORPUS = ["The cat sat on the mat because it was tired.", "The dog sat on the mat.", "Attention is all you need.",
          "One two three four five six seven eight nine ten.", "Dogs bark. Cats sleep all afternoon."] * 4


def save_tiny_llama(folder: Path, seed: int = 0) -> Path:
    """Config + model.safetensors + tokenizer files in `folder` (a few hundred kB, < 1 s)."""
    import torch
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

    bpe = Tokenizer(models.BPE())
    bpe.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    bpe.decoder = decoders.ByteLevel()
    bpe.train_from_iterator(CORPUS, trainers.BpeTrainer(
        vocab_size=300, special_tokens=["<|endoftext|>"], initial_alphabet=pre_tokenizers.ByteLevel.alphabet()))
    tok = PreTrainedTokenizerFast(tokenizer_object=bpe, eos_token="<|endoftext|>", pad_token="<|endoftext|>",
                                  bos_token="<|endoftext|>", model_max_length=64)
    torch.manual_seed(seed)
    cfg = LlamaConfig(vocab_size=bpe.get_vocab_size(), hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                      num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=64,
                      bos_token_id=0, eos_token_id=0, pad_token_id=0, tie_word_embeddings=True)
    LlamaForCausalLM(cfg).save_pretrained(folder)
    tok.save_pretrained(folder)
    return Path(folder)


def app_with_text_model(name: str, page: str):
    """AppTest of the whole app with `name` as the sidebar's text model (a folder is registered as a custom LM),
    switched to `page` and run; fails on any exception."""
    from streamlit.testing.v1 import AppTest

    from conftest import APP_PATH
    at = AppTest.from_file(APP_PATH, default_timeout=300)
    if not name.startswith("smollm2"):
        at.session_state["custom_models_lm"] = [name]
    at.session_state["model_text"] = name
    at.run()
    at.switch_page(page).run()
    assert not at.exception, [e.value for e in at.exception]
    return at
