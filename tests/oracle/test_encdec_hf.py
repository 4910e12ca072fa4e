"""A Hugging Face encoder–decoder (random-init BART with a tiny BPE tokenizer) through the adapter: the page's
recording equals HF eager `cross_attentions`, and the Encoder–decoder page shows it."""

import pytest
import torch
from helpers import app_test, figure_specs

import xviz

torch.set_num_threads(1)
transformers = pytest.importorskip("transformers")
CORPUS = ["The cat sat on the mat.", "Le chat est assis sur le tapis.", "Attention is all you need."] * 4


@pytest.fixture(scope="module")
def bart_dir(tmp_path_factory):
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

    folder = tmp_path_factory.mktemp("bart")
    bpe = Tokenizer(models.BPE())
    bpe.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    bpe.decoder = decoders.ByteLevel()
    bpe.train_from_iterator(
        CORPUS,
        trainers.BpeTrainer(
            vocab_size=200,
            special_tokens=["<s>", "<pad>", "</s>"],
            initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        ),
    )
    tok = transformers.PreTrainedTokenizerFast(
        tokenizer_object=bpe, bos_token="<s>", pad_token="<pad>", eos_token="</s>", model_max_length=64
    )
    torch.manual_seed(0)
    cfg = transformers.BartConfig(
        vocab_size=bpe.get_vocab_size(),
        d_model=32,
        encoder_layers=2,
        decoder_layers=2,
        encoder_attention_heads=4,
        decoder_attention_heads=4,
        encoder_ffn_dim=64,
        decoder_ffn_dim=64,
        max_position_embeddings=64,
        bos_token_id=0,
        pad_token_id=1,
        eos_token_id=2,
        decoder_start_token_id=2,
        forced_eos_token_id=None,
    )
    transformers.BartForConditionalGeneration(cfg).save_pretrained(folder)
    tok.save_pretrained(folder)
    return str(folder)


def test_hf_run_cross_attention_equals_hf_eager(bart_dir):
    from xviz.analysis.encdec import hf_run

    model = xviz.load_model(bart_dir)
    assert model.kind == "seq2seq"
    run = hf_run(model, "The cat sat on the mat.", "Le chat est assis.")
    ref = transformers.BartForConditionalGeneration.from_pretrained(bart_dir, attn_implementation="eager").eval()
    batch = model.prepare("The cat sat on the mat.", target="Le chat est assis.")
    with torch.no_grad():
        r = ref(
            input_ids=batch["input_ids"],
            attention_mask=batch["attention_mask"],
            decoder_input_ids=batch["decoder_input_ids"],
            output_attentions=True,
        )
    for i in range(2):
        torch.testing.assert_close(
            run.rec[f"decoder.blocks.{i}.cross_attn.hook_probs"], r.cross_attentions[i], atol=1e-5, rtol=1e-4
        )
    assert len(run.tgt_tokens) == r.cross_attentions[0].shape[2] and len(run.src_tokens) == batch["input_ids"].shape[1]
    assert isinstance(hf_run(model, "The cat sat.").target, str)  # no target: its own greedy output


def test_page_shows_an_hf_encoder_decoder(bart_dir):
    at = app_test("views/encdec.py", state={"custom_models_seq2seq": [bart_dir], "model_seq2seq": bart_dir})
    assert not at.exception, at.exception
    assert at.selectbox(key="model_seq2seq").value == bart_dir
    at.text_input(key="ed_hf_tgt").set_value("Le chat.").run()
    assert not at.exception, at.exception
    titles = figure_specs(at)
    assert any("Cross-attention, decoder layer 1, head mean" in t for t in titles)
    at.selectbox(key="model_seq2seq").set_value("seq2seq-tiny").run()
    assert not at.exception and at.radio(key="ed_view").value == "Cross-attention"
