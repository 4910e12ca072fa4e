"""`clip-shapes`: a small Hugging Face `CLIPModel` trained contrastively on the shapes world (xviz.data.shapes), and
the numbers its README section and tests state (zero-shot on held-out colour × shape combinations, in-distribution
zero-shot, image → text retrieval R@1).

The caption tokenizer is a `tokenizers` WordLevel model over the closed caption vocabulary, wrapped in
`PreTrainedTokenizerFast`: "<bos> words <eos>", padded with [PAD]. CLIP's text tower pools the hidden state at the
first `eos_token_id` of each sequence (transformers' CLIPTextTransformer); EOS_ID is 3 because transformers treats
an `eos_token_id` of 2 as the legacy "argmax of the ids" pooling.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from tokenizers import Tokenizer, models, normalizers, pre_tokenizers, processors

from xviz.data import shapes

SPECIAL = ("[PAD]", "[UNK]", "<bos>", "<eos>")
PAD_ID, UNK_ID, BOS_ID, EOS_ID = 0, 1, 2, 3
MAX_TOKENS = 32  # the longest caption is 20 tokens with <bos> and <eos>
LOGIT_SCALE_MAX = 4.6052  # ln 100: Radford et al. 2021 clip the learned temperature so logits scale ≤ 100


def caption_tokenizer():
    """The caption tokenizer: WordLevel over xviz.data.shapes.caption_vocabulary(), lower-cased, split on spaces
    and punctuation, "<bos> $A <eos>" around every caption."""
    from transformers import PreTrainedTokenizerFast  # noqa: PLC0415  (transformers takes seconds to import; only training and tests need it)

    vocab = {t: i for i, t in enumerate(SPECIAL + tuple(shapes.caption_vocabulary()))}
    tok = Tokenizer(models.WordLevel(vocab, unk_token="[UNK]"))
    tok.normalizer = normalizers.Lowercase()
    tok.pre_tokenizer = pre_tokenizers.Whitespace()  # "circle, a" → "circle" "," "a"
    tok.post_processor = processors.TemplateProcessing(
        single="<bos> $A <eos>", special_tokens=[("<bos>", BOS_ID), ("<eos>", EOS_ID)]
    )
    return PreTrainedTokenizerFast(
        tokenizer_object=tok,
        bos_token="<bos>",
        eos_token="<eos>",
        pad_token="[PAD]",
        unk_token="[UNK]",
        model_max_length=MAX_TOKENS,
    )


def clip_config(vocab_size: int, vision=(96, 3, 4), text=(64, 3, 4), projection: int = 64):
    """A tiny CLIPConfig: (width, layers, heads) per tower, MLP 4× wide, 8-px patches of a 64-px image."""
    from transformers import CLIPConfig  # noqa: PLC0415  (transformers takes seconds to import; only training and tests need it)

    (vw, vl, vh), (tw, tl, th) = vision, text
    return CLIPConfig(
        text_config=dict(
            vocab_size=vocab_size,
            hidden_size=tw,
            intermediate_size=4 * tw,
            num_hidden_layers=tl,
            num_attention_heads=th,
            max_position_embeddings=MAX_TOKENS,
            pad_token_id=PAD_ID,
            bos_token_id=BOS_ID,
            eos_token_id=EOS_ID,
            projection_dim=projection,
        ),
        vision_config=dict(
            image_size=shapes.IMAGE_SIZE,
            patch_size=8,
            hidden_size=vw,
            intermediate_size=4 * vw,
            num_hidden_layers=vl,
            num_attention_heads=vh,
            projection_dim=projection,
        ),
        projection_dim=projection,
    )


def image_processor():
    """The folder's CLIPImageProcessor: a 64-px scene passes unchanged (resize/crop to 64), [0, 1], MEAN/STD."""
    from transformers import CLIPImageProcessor  # noqa: PLC0415  (transformers takes seconds to import; only training and tests need it)

    n = shapes.IMAGE_SIZE
    return CLIPImageProcessor(
        size={"shortest_edge": n},
        crop_size={"height": n, "width": n},
        image_mean=list(shapes.MEAN),
        image_std=list(shapes.STD),
    )


def contrastive_loss(logits_per_image: torch.Tensor, captions: list[str]) -> torch.Tensor:
    """CLIP's symmetric cross-entropy over the (B, B) image × text logits (Radford et al. 2021, Fig. 3), with
    every pair whose captions are the same string counted as a positive (uniform target over them, as UniCL,
    Yang et al. 2022): "a red circle" may caption several images of one batch. Unique captions: the identity."""
    ids = {c: i for i, c in enumerate(dict.fromkeys(captions))}
    cap = torch.tensor([ids[c] for c in captions], device=logits_per_image.device)
    same = (cap[:, None] == cap[None, :]).float()  # (B, B) symmetric
    target = same / same.sum(1, keepdim=True)
    return (F.cross_entropy(logits_per_image, target) + F.cross_entropy(logits_per_image.t(), target)) / 2


@torch.no_grad()
def embed_images(model, pixel_values: torch.Tensor, batch: int = 256) -> torch.Tensor:
    """(B, 3, H, W) model space → (B, P) unit image embeddings (CLIPModel.get_image_features)."""
    out = [
        model.get_image_features(pixel_values=pixel_values[i : i + batch]).pooler_output
        for i in range(0, len(pixel_values), batch)
    ]
    return F.normalize(torch.cat(out), dim=-1)


@torch.no_grad()
def embed_texts(model, tokenizer, texts: list[str]) -> torch.Tensor:
    """Texts → (T, P) unit text embeddings (CLIPModel.get_text_features, pooled at each text's <eos>)."""
    batch = tokenizer(texts, padding=True, return_tensors="pt")
    feats = model.get_text_features(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"])
    return F.normalize(feats.pooler_output, dim=-1)


def zero_shot_accuracy(image_emb: torch.Tensor, label_emb: torch.Tensor, targets: torch.Tensor) -> float:
    """Fraction of images whose most similar label (cosine) is their own class (Radford et al. 2021, §3.1.2)."""
    return float(((image_emb @ label_emb.t()).argmax(-1) == targets).float().mean())


def retrieval_r1(image_emb: torch.Tensor, text_emb: torch.Tensor, captions: list[str]) -> float:
    """Image → text recall@1: the best-matching caption of each image is its own (an identical string counts)."""
    best = (image_emb @ text_emb.t()).argmax(-1).tolist()  # (B,)
    return sum(captions[j] == captions[i] for i, j in enumerate(best)) / len(captions)


ZERO_SHOT_SEED = 100_000  # zero-shot scenes: test-split seeds from here, apart from the retrieval scenes (0 …)


def zero_shot_scenes(combos, per_combo: int) -> tuple[list[shapes.Scene], torch.Tensor]:
    """One-object test scenes of each (colour, shape), `per_combo` each, and their class indices."""
    scenes, targets = [], []
    for colour, shape in combos:
        k = shapes.class_index(colour, shape)
        start = ZERO_SHOT_SEED + k * per_combo
        scenes += shapes.render_scenes(
            "test", start, per_combo, n_objects=1, combo=(colour, shape), exclude=frozenset()
        )
        targets += [k] * per_combo
    return scenes, torch.tensor(targets)


def seen_combos() -> list[tuple[str, str]]:
    return [(c, s) for c in shapes.COLOURS for s in shapes.SHAPES if (c, s) not in shapes.HELD_OUT]


def _classify(model, label_emb: torch.Tensor, scenes: list[shapes.Scene]) -> torch.Tensor:
    """The index of each scene's most similar label (B,)."""
    return (embed_images(model, shapes.normalise(shapes.to_tensor(scenes))) @ label_emb.t()).argmax(-1)


def evaluate(model, tokenizer, held_per_combo: int = 100, seen_per_combo: int = 20, retrieval: int = 500) -> dict:
    """The stated numbers, through transformers' CLIPModel: zero-shot accuracy on held-out combinations (their
    colour and shape alone too) and on seen ones, among all colour × shape labels; image → text R@1."""
    labels = embed_texts(model, tokenizer, shapes.label_phrases())  # (18, P)
    held, held_y = zero_shot_scenes(sorted(shapes.HELD_OUT), held_per_combo)
    pred = _classify(model, labels, held)
    n_shapes = len(shapes.SHAPES)
    seen, seen_y = zero_shot_scenes(seen_combos(), seen_per_combo)
    ret = shapes.render_scenes("test", 0, retrieval)
    captions = [s.full_caption for s in ret]
    ret_img = embed_images(model, shapes.normalise(shapes.to_tensor(ret)))
    return {
        "zero_shot_held_out": float((pred == held_y).float().mean()),
        "held_out_colour": float((pred // n_shapes == held_y // n_shapes).float().mean()),
        "held_out_shape": float((pred % n_shapes == held_y % n_shapes).float().mean()),
        "zero_shot_seen": float((_classify(model, labels, seen) == seen_y).float().mean()),
        "retrieval_r1": retrieval_r1(ret_img, embed_texts(model, tokenizer, captions), captions),
    }
