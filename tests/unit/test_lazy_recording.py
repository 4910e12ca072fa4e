"""Recording with attention on demand: when it goes lazy, the memory budget that keeps the notebook API from taking
the machine down, and a 4k-token recording whose memory stays bounded (measured in a subprocess)."""

import json
import subprocess
import sys
import textwrap

import pytest
import torch
from helpers import ROOT, save_tiny_llama

import xviz
from xviz import hooks
from xviz.errors import ResourceError


@pytest.fixture(scope="module")
def tiny_llama(tmp_path_factory):
    return xviz.load_model(str(save_tiny_llama(tmp_path_factory.mktemp("llama"))))


def _run(model, n, **kw):
    ids = torch.randint(3, 90, (1, n), generator=torch.Generator().manual_seed(0))
    with torch.no_grad(), xviz.record(model, names="blocks.*.attn.hook_*", **kw) as rec:
        model(input_ids=ids)
    return rec


def test_auto_goes_lazy_only_past_the_threshold(tiny_llama, monkeypatch):
    assert not _run(tiny_llama, 12).is_lazy(("probs", 0))  # small: dense, as before
    monkeypatch.setattr(hooks, "AUTO_LAZY_BYTES", 1000)
    rec = _run(tiny_llama, 12)
    assert rec.is_lazy(("probs", 0)) and rec.is_lazy(("scores", 1))
    dense = _run(tiny_llama, 12, attention="dense")
    assert torch.allclose(rec["probs", 1], dense["probs", 1], atol=1e-6)
    assert "blocks.1.attn.hook_probs" in rec and len(rec) == len(dense)


def test_gradients_and_edits_of_the_maps_take_the_dense_path(tiny_llama):
    ids = torch.randint(3, 90, (1, 8), generator=torch.Generator().manual_seed(1))
    with xviz.record(tiny_llama, names="blocks.0.attn.hook_probs", grads=True, attention="lazy") as rec:
        out = tiny_llama(input_ids=ids)
    rec.backward(out.logits[0, -1].sum())
    assert not rec.is_lazy(("probs", 0)) and "blocks.0.attn.hook_probs_grad" in rec
    half = {"blocks.1.attn.hook_probs": lambda p: p * 0.5}
    with torch.no_grad(), xviz.record(tiny_llama, names="*hook_probs", attention="lazy", edits=half) as rec:
        tiny_llama(input_ids=ids)
    assert rec.is_lazy(("probs", 0)) and not rec.is_lazy(("probs", 1))
    assert torch.allclose(rec["probs", 1].sum(-1), torch.full((1, 4, 8), 0.5))


def test_a_recording_past_its_budget_is_refused_with_what_to_do(tiny_llama):
    with pytest.raises(ResourceError, match="names=") as err:
        _run(tiny_llama, 64, attention="dense", max_bytes=50_000)
    assert "GiB" in str(err.value)
    assert _run(tiny_llama, 8).nbytes() > 0  # the next recording in this context is unaffected
    rec = _run(tiny_llama, 64, attention="lazy")
    rec.max_bytes = 1000  # reading one whole map would pass it: refused, parts still work
    with pytest.raises(ResourceError, match="rec.attention"):
        rec["probs", 0]
    assert rec.attention(0, head=2, rows=slice(60, 64)).shape == (4, 64)


def test_shared_tensors_are_counted_once(tiny_llama):
    rec = _run(tiny_llama, 32, attention="lazy")
    stored = sum(t.numel() * t.element_size() for t in rec.tensors.values())
    mask = rec.sources["blocks.0.attn"].mask
    assert rec.nbytes() == stored + (mask.numel() * mask.element_size() if mask is not None else 0)
    assert rec.dense_nbytes() > rec.nbytes()


MEMORY_SCRIPT = textwrap.dedent(
    """
    import json, sys, torch
    sys.path.insert(0, "tests")
    import xviz
    from helpers import save_tiny_llama
    torch.set_num_threads(1)
    model = xviz.load_model(str(save_tiny_llama(sys.argv[1], layers=4, heads=4, hidden=64, positions=4096)))
    ids = torch.randint(3, 90, (1, 4096), generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        model(input_ids=ids[:, :64])  # warm up
    kib = lambda key: next(int(ln.split()[1]) * 1024 for ln in open("/proc/self/status") if ln.startswith(key))
    open("/proc/self/clear_refs", "w").write("5")  # the peak RSS restarts here: loading's peak cannot hide ours
    before = kib("VmRSS:")
    with torch.no_grad(), xviz.record(model, names="blocks.*.attn.hook_*") as rec:
        model(input_ids=ids)
    stats = rec.attention(3, head=1, rows=slice(4000, 4096))
    grow = kib("VmHWM:") - before
    print(json.dumps(dict(grow=grow, kept=rec.nbytes(), dense=rec.dense_nbytes(), lazy=rec.is_lazy(("probs", 3)),
                          row_sum=float(stats.sum(-1).mean()))))
    """
)


def test_a_4k_token_recording_stays_bounded(tmp_path):
    """4 layers × 4 heads at 4096 tokens: dense scores + probs would be 2 GiB; on demand the process grows by the
    forward's own working memory plus q, k, v, z, not by N² per head."""
    out = subprocess.run(
        [sys.executable, "-c", MEMORY_SCRIPT, str(tmp_path)], cwd=ROOT, capture_output=True, text=True, timeout=600
    )
    assert out.returncode == 0, out.stderr[-2000:]
    facts = json.loads(out.stdout.strip().splitlines()[-1])
    assert facts["lazy"] and facts["dense"] >= 2 * 2**30 and abs(facts["row_sum"] - 1) < 1e-5
    assert facts["kept"] < 64 * 2**20 and facts["grow"] < 512 * 2**20, facts


@pytest.mark.gpu
def test_attention_on_demand_on_cuda_equals_dense(tiny_llama, tmp_path):
    """The same code path on CUDA: sources captured on the device, moved to the host once, maps equal."""
    model = xviz.load_model(str(save_tiny_llama(tmp_path)), device="cuda")
    ids = torch.randint(3, 90, (2, 48), generator=torch.Generator().manual_seed(0)).cuda()
    with torch.no_grad():
        with xviz.record(model, names="blocks.*.attn.hook_*", attention="lazy") as lazy:
            model(input_ids=ids)
        with xviz.record(model, names="blocks.*.attn.hook_*", attention="dense") as dense:
            model(input_ids=ids)
    assert lazy.sources["blocks.1.attn"].q.device.type == "cpu"
    for i in range(model.num_layers):
        assert (lazy["probs", i] - dense["probs", i]).abs().max() <= 1e-4
