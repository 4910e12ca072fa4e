"""Random-init CLIP / SigLIP folders with a tokenizer, built offline for the CLIP tests (tokenizers' WordLevel model
wrapped as a PreTrainedTokenizerFast, saved next to the weights): shapes of the default configs (ViT-B/32 CLIP,
SigLIP-B/16), depth reduced unless asked."""

from __future__ import annotations

from pathlib import Path

WORDS = (
    "a an the of photo picture drawing small large big red green blue yellow orange purple circle square triangle "
    "cat dog car rocket coffee cup astronaut man woman person above below left right and on in with some two three "
    "one shape shapes colour color background plain stripes checker noise image"
).split()


def word_tokenizer(bos: str | None, eos: str, pad: str, ids: dict[str, int], max_len: int):
    """A lower-casing WordLevel tokenizer: the words above from id 3, the special tokens at `ids`."""
    from tokenizers import Tokenizer, models, normalizers, pre_tokenizers, processors
    from transformers import PreTrainedTokenizerFast

    vocab = {"[UNK]": 2, **{w: i + 3 for i, w in enumerate(WORDS)}, **ids}
    tok = Tokenizer(models.WordLevel(vocab, unk_token="[UNK]"))
    tok.normalizer = normalizers.Lowercase()
    tok.pre_tokenizer = pre_tokenizers.Whitespace()
    single = f"{bos} $A {eos}" if bos else f"$A {eos}"
    tok.post_processor = processors.TemplateProcessing(single=single, special_tokens=[(t, ids[t]) for t in ids])
    return PreTrainedTokenizerFast(
        tokenizer_object=tok, bos_token=bos, eos_token=eos, pad_token=pad, unk_token="[UNK]", model_max_length=max_len
    )


def save_clip(folder: Path, layers: int | None = 2, seed: int = 0, tokenizer: bool = True) -> Path:
    """CLIPModel of the default config (ViT-B/32 vision, 12-layer text: `layers` each, None = full depth)."""
    import torch
    import transformers as T

    depth = {} if layers is None else {"num_hidden_layers": layers}
    cfg = T.CLIPConfig(text_config=depth, vision_config=depth)
    torch.manual_seed(seed)
    T.CLIPModel(cfg).eval().save_pretrained(folder)
    if tokenizer:
        ids = {"<|startoftext|>": 49406, "<|endoftext|>": 49407}
        word_tokenizer("<|startoftext|>", "<|endoftext|>", "<|endoftext|>", ids, 77).save_pretrained(folder)
    return Path(folder)


def save_siglip(folder: Path, layers: int | None = 2, seed: int = 0, tokenizer: bool = True) -> Path:
    """SiglipModel of the default config (B/16 vision, 64-token text; pad 0, end token 1 as SigLIP's)."""
    import torch
    import transformers as T

    depth = {} if layers is None else {"num_hidden_layers": layers}
    cfg = T.SiglipConfig(
        text_config={**depth, "pad_token_id": 0, "eos_token_id": 1, "bos_token_id": None}, vision_config=depth
    )
    torch.manual_seed(seed)
    model = T.SiglipModel(cfg).eval()
    with torch.no_grad():  # HF initialises t and b to 0: give them the paper's starting values (t = log 10, b = −10)
        model.logit_scale.fill_(2.302585)
        model.logit_bias.fill_(-10.0)
    model.save_pretrained(folder)
    if tokenizer:
        word_tokenizer(None, "</s>", "<pad>", {"<pad>": 0, "</s>": 1}, 64).save_pretrained(folder)
    return Path(folder)
