"""xviz's own models are plain modules: they pickle and deepcopy (no lambdas or closures stored on them), and the
copy computes exactly what the original does."""

import copy
import pickle

import pytest
import torch

import xviz

# the registry models built from files in the package (no fetch), plus every activation an MLP can hold
SHIPPED = ["swin-tiny", "mae-small", "seq2seq-tiny", "vit-digits", "mixer-digits", "fnet-digits", "cnn-digits"]
SHIPPED += ["copy-plain", "copy-pointer", "monotonic-plain", "monotonic-guided", "monotonic-location"]


def _outputs(model, inputs: dict) -> list[torch.Tensor]:
    out = model(**inputs)
    return (
        [v for v in vars(out).values() if isinstance(v, torch.Tensor)] if not isinstance(out, torch.Tensor) else [out]
    )


def _inputs(model) -> dict:
    g = torch.Generator().manual_seed(0)
    if model.kind == "seq2seq":
        return model.prepare("hello world", "reverse", target="dlrow olleh")
    if model.kind == "rnn_seq2seq":  # the attention GRUs: their first example, with the model's own output
        return model.prepare(model.examples[0])
    size = {"swin": 224, "mae": 64}.get(model.kind, 16)
    channels = 1 if model.name.endswith("digits") else 3
    return {"pixel_values": torch.randn(1, channels, size, size, generator=g)}


@pytest.mark.parametrize("name", SHIPPED)
def test_shipped_models_pickle_and_compute_the_same(name):
    model = xviz.load_model(name)
    clone = pickle.loads(pickle.dumps(model))
    deep = copy.deepcopy(model)
    inputs = _inputs(model)
    torch.manual_seed(0)  # MAE masks at random when no masking is given
    ref = _outputs(model, inputs)
    for other in (clone, deep):
        torch.manual_seed(0)
        got = _outputs(other, inputs)
        assert len(got) == len(ref) > 0
        assert all(torch.equal(a, b) for a, b in zip(got, ref))


@pytest.mark.parametrize("act", ["gelu", "gelu_tanh", "gelu_new", "gelu_pytorch_tanh", "relu", "silu", "swish"])
def test_every_mlp_activation_pickles(act):
    from xviz.layers.block import MLP

    mlp = MLP(8, 16, act=act)
    x = torch.randn(3, 8)
    assert torch.equal(pickle.loads(pickle.dumps(mlp))(x), mlp(x))
