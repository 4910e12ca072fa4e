import pytest
import torch

from xviz.device import available_devices, device_label, pick_device, run_with_oom_fallback


def test_auto_picks_the_best_available_and_unavailable_choice_falls_back():
    best = available_devices()[0]
    assert pick_device("auto").type == best
    assert pick_device("cpu").type == "cpu"
    if not torch.cuda.is_available():
        assert pick_device("cuda").type == best
    assert "CPU" in device_label("cpu")


def test_cuda_out_of_memory_falls_back_to_cpu_with_notice():
    calls = []

    def fn(device):
        calls.append(device.type)
        if device.type == "cuda":
            raise torch.cuda.OutOfMemoryError("CUDA out of memory. Tried to allocate 20.00 GiB")
        return "ok"

    result, notice = run_with_oom_fallback(fn, torch.device("cuda"))
    assert result == "ok" and calls == ["cuda", "cpu"]
    assert "ran out of memory" in notice


def test_other_errors_are_not_swallowed():
    def fn(device):
        raise RuntimeError("shape mismatch")

    with pytest.raises(RuntimeError, match="shape mismatch"):
        run_with_oom_fallback(fn, torch.device("cuda"))


@pytest.mark.gpu
def test_minilm_runs_on_cuda_with_same_probabilities():
    import xviz

    text = "The GPU and the CPU agree."
    out = {}
    for dev in ("cpu", "cuda"):
        m = xviz.load_model("minilm-l6", device=dev)
        with torch.no_grad(), xviz.record(m, names="*.hook_probs") as rec:
            m(**m.prepare(text))
        out[dev] = rec.stack("probs")
        assert rec.meta["device"].startswith(dev)
    torch.testing.assert_close(out["cuda"], out["cpu"], atol=1e-4, rtol=1e-4)


def test_reuse_freed_memory_is_accepted_by_glibc():
    import sys

    from xviz.device import reuse_freed_memory

    assert reuse_freed_memory() is sys.platform.startswith("linux")
