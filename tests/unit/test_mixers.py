"""Token mixers: Mixer token mixing == explicit matrix product, FNet mixing == Re(FFT(FFT(x))) == DFT matrices,
shipped digit models reproduce the accuracies written beside them, shifts, digit input and bad images."""

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from helpers import image_bytes
from PIL import Image

import xviz
from xviz.analysis import mixers as A
from xviz.data.digits import image_to_digit, load_split, normalise, shift
from xviz.errors import InputError
from xviz.hooks import record
from xviz.inputs.image import load_image
from xviz.models.digit_vit import build
from xviz.models.mixers import DigitConfig, fourier_mix
from xviz.pretrained.zoo import shipped_accuracy, weights_file

torch.set_num_threads(1)
G = torch.Generator().manual_seed(0)


def _rand(*shape):
    return torch.randn(*shape, generator=G)


def test_mixer_token_mixing_is_an_explicit_matrix_product():
    model = build(DigitConfig(arch="mixer")).eval()
    tm = model.blocks[1].token_mix
    x = _rand(3, 16, 64)  # (B, N, C)
    with torch.no_grad():
        got = tm(x)
        w1, b1, w2, b2 = tm.fc1.weight, tm.fc1.bias, tm.fc2.weight, tm.fc2.bias  # (S, N), (S,), (N, S), (N,)
        want = torch.stack(
            [torch.stack([w2 @ F.gelu(w1 @ x[b, :, c] + b1) + b2 for c in range(64)], 1) for b in range(3)]
        )  # per sample, per channel: (N,) columns
    torch.testing.assert_close(got, want, atol=1e-5, rtol=1e-5)
    # input-independent and shared by channels: the same column in two channels gives the same output
    x2 = x.clone()
    x2[:, :, 5] = x[:, :, 9]
    with torch.no_grad():
        out2 = tm(x2)
    torch.testing.assert_close(out2[:, :, 5], got[:, :, 9])


def test_mixer_hooks_record_token_mixing():
    model = build(DigitConfig(arch="mixer")).eval()
    x = _rand(2, 1, 16, 16)
    with torch.no_grad(), record(model) as rec:
        model(x)
    for i in range(4):
        assert rec[f"blocks.{i}.token_mix.hook_in"].shape == (2, 64, 16)
        assert rec[f"blocks.{i}.token_mix.hook_hidden"].shape == (2, 64, 64)
    assert rec["hook_logits"].shape == (2, 10)
    mm = A.mixer_matrices(model)
    assert mm.linear.shape == (4, 16, 16)
    torch.testing.assert_close(mm.linear[2], model.blocks[2].token_mix.linear_part())


def test_fnet_mixing_is_real_part_of_2d_fft():
    x = _rand(2, 16, 64)
    want = torch.fft.fft(torch.fft.fft(x, dim=-1), dim=-2).real  # Re(FFT_seq(FFT_hidden(x)))
    torch.testing.assert_close(fourier_mix(x), want)
    torch.testing.assert_close(fourier_mix(x), torch.fft.fft2(x).real, atol=1e-4, rtol=1e-5)
    fn, fc = A.dft_matrix(16), A.dft_matrix(64)
    explicit = (fn @ x.double().to(torch.complex128) @ fc).real  # F_N · X · F_C (DFT matrices are symmetric)
    torch.testing.assert_close(fourier_mix(x).double(), explicit, atol=1e-4, rtol=1e-5)
    cos_n, sin_n = A.fourier_token_matrices(16)
    cos_c, sin_c = A.fourier_token_matrices(64)
    torch.testing.assert_close(fourier_mix(x), cos_n @ x @ cos_c - sin_n @ x @ sin_c, atol=1e-3, rtol=1e-4)


def test_fnet_block_uses_fourier_mix():
    model = build(DigitConfig(arch="fnet")).eval()
    with torch.no_grad(), record(model, names="blocks.0.hook_mix_*") as rec:
        model(_rand(1, 1, 16, 16))
    torch.testing.assert_close(rec["blocks.0.hook_mix_out"], fourier_mix(rec["blocks.0.hook_mix_in"]))
    assert sum(p.numel() for n, p in model.named_parameters() if "mix" in n) == 0


@pytest.mark.parametrize("name", A.MODEL_NAMES)
def test_shipped_model_reproduces_its_accuracy(name):
    assert weights_file(name).is_file()
    model = xviz.load_model(name)
    acc = A.held_out_accuracy(model)
    assert acc == pytest.approx(shipped_accuracy(name), abs=1e-6)
    assert acc >= 0.95
    assert model.train_meta["test_images"] == 449
    assert weights_file(name).with_suffix(".csv").is_file()


def test_split_is_fixed_and_disjoint():
    xtr, ytr = load_split("train")
    xte, yte = load_split("test")
    assert xtr.shape == (1348, 1, 16, 16) and xte.shape == (449, 1, 16, 16)
    assert float(xte.min()) >= 0 and float(xte.max()) <= 1
    flat_tr = {tuple(r) for r in xtr.flatten(1).numpy().round(4).tolist()}
    dup = sum(tuple(r) in flat_tr for r in xte.flatten(1).numpy().round(4).tolist())
    assert dup <= 5  # load_digits has a handful of identical images; no index overlap
    torch.testing.assert_close(load_split("test")[0], xte)


def test_shift_moves_and_drops_without_wrapping():
    x = torch.zeros(1, 1, 16, 16)
    x[0, 0, 3, 15] = 1.0
    assert shift(x, 1, 0).sum() == 0  # fell off the right edge, not wrapped
    assert shift(x, -2, 1)[0, 0, 4, 13] == 1
    torch.testing.assert_close(shift(x, 0, 0), x)


def test_vit_digits_works_on_the_attention_page_path():
    from xviz.analysis.image_run import run_image

    model = xviz.load_model("vit-digits")
    assert model.kind == "image" and model.num_layers == 4 and model.num_heads == 4
    img = Image.fromarray((np.random.default_rng(0).random((40, 40)) * 255).astype(np.uint8))
    run = run_image(model, img, size=224)
    assert run.grid == (4, 4) and run.rec["probs", 0].shape == (1, 4, 17, 17)
    att = A.vit_attention(model, load_split("test")[0][:1])
    assert att.shape == (4, 4, 17, 17)
    torch.testing.assert_close(att.sum(-1), torch.ones(4, 4, 17))


def test_uploaded_digit_like_the_data_and_dark_ink_is_inverted():
    x, y = load_split("test")
    big = np.asarray(Image.fromarray((x[0, 0].numpy() * 255).astype(np.uint8)).resize((64, 64)))
    model = xviz.load_model("cnn-digits")
    for arr in (big, 255 - big):  # bright ink on black, and dark ink on white
        d = image_to_digit(load_image(image_bytes(arr)).image)
        assert d.shape == (1, 1, 16, 16)
        assert int(A.probabilities(model, d).argmax()) == int(y[0])


@pytest.mark.parametrize("value", [0, 255, 128])
def test_blank_image_is_refused(value):
    with pytest.raises(InputError, match="blank"):
        image_to_digit(load_image(image_bytes(np.full((32, 32), value, np.uint8))).image)


def test_oversized_and_tiny_images_are_refused():
    with pytest.raises(InputError, match="limit"):
        load_image(image_bytes(np.zeros((20000, 300), np.uint8)))
    with pytest.raises(InputError, match="at least"):
        load_image(image_bytes(np.zeros((8, 8), np.uint8)))


def test_speed_and_params():
    model = build(DigitConfig(arch="cnn")).eval()
    assert A.param_count(model) == sum(p.numel() for p in model.parameters())
    assert 0 < A.speed_ms(model, batch=8, repeats=2) < 1000
    assert normalise(torch.ones(1)).item() == 1.0


def test_shipped_digits_equal_scikit_learns():
    """xviz/samples/digits.npz (what the page and the models use at run time) is exactly load_digits."""
    import numpy as np

    sk = pytest.importorskip("sklearn.datasets")
    from xviz.data.digits import DIGITS_FILE

    d = sk.load_digits()
    with np.load(DIGITS_FILE, allow_pickle=False) as ours:
        assert np.array_equal(ours["images"], d.images) and np.array_equal(ours["target"], d.target)
