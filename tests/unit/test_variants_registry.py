"""One record per attention variant: each record is complete and consistent with what it declares, and a variant
registered in one place reaches every list (the page's, in tests/app/test_variants_page.py)."""

import dataclasses

import pytest
import torch
from helpers import block_local_variant

import xviz.variants as V
from xviz.analysis.cost import cost_model
from xviz.analysis.variant_eval import evaluate, evaluate_all
from xviz.variants.catalog import CAUSAL_POLICIES, GROUPS

TOY = block_local_variant()  # a block-local pattern (the page's test registers it too)


def _qkv(n=37, d=8, seed=0):
    g = torch.Generator().manual_seed(seed)
    return [torch.randn(n, d, generator=g) for _ in range(3)]


def _other_value(spec: V.Param):
    """A valid value of the knob other than its default."""
    if isinstance(spec.default, bool):
        return not spec.default
    if spec.options:
        return next(o for o in spec.options if o != spec.default)
    return spec.default + (spec.step or 1)


def test_every_record_is_complete():
    for name, v in V.VARIANTS.items():
        assert v.name == name and v.label and v.note and v.group in GROUPS and v.causal in CAUSAL_POLICIES
        assert (v.run is None) != (v.pattern is None) and set(v.reads) <= set(V.PARAMS) - {"causal"}
        c = v.cost(64, 8, V.VariantParams(), None)
        assert isinstance(c, V.Cost) and c.flops > 0 and 0 < c.density <= 1 and c.formula
    assert V.PATTERNS == {n for n, v in V.VARIANTS.items() if v.pattern is not None}


def test_a_record_that_reads_an_unknown_knob_is_refused():
    with pytest.raises(ValueError, match="reads"):
        dataclasses.replace(TOY, reads=("blocks",))
    with pytest.raises(ValueError, match="exactly one"):
        dataclasses.replace(TOY, run=V.full)


def test_param_specs_are_the_one_source_of_defaults():
    assert dataclasses.asdict(V.VariantParams()) == {n: s.default for n, s in V.PARAMS.items()}
    keys = [s.key for s in V.PARAMS.values()]
    assert len(set(keys)) == len(keys) and all(k.startswith("var_") for k in keys)
    assert V.used_params() == list(V.PARAMS)  # every knob on the page changes some variant
    with pytest.raises(ValueError):
        V.Param("x", "var_x", "X", 99, min=0, max=8)


def test_pattern_costs_count_their_own_mask():
    q, k, v = _qkv()
    for causal in (False, True):
        p = V.VariantParams(window=6, n_global=2, causal=causal)
        for name in V.PATTERNS:
            mask, res = V.pattern_mask(name, 37, p), evaluate(name, q, k, v, p)
            assert torch.equal(res.support, mask)
            assert res.cost.memory == int(mask.sum()) and res.cost.density == pytest.approx(float(mask.sum()) / 37**2)
            assert not res.causal or not mask.triu(1).any()  # a causal pattern never looks ahead


def test_causal_policy():
    for causal in (False, True):
        p = V.VariantParams(causal=causal)
        for name, v in V.VARIANTS.items():
            want = {"always": True, "never": False, "param": causal}[v.causal]
            assert V.is_causal(name, p) == want == evaluate(name, *_qkv(12), p).causal


def test_variants_ignore_the_knobs_they_do_not_read():
    """`reads` is honest: changing any other knob changes neither the output nor the cost."""
    q, k, v = _qkv(29)
    base = V.VariantParams()
    for name, spec in V.VARIANTS.items():
        ref = evaluate(name, q, k, v, base)
        for knob in set(V.PARAMS) - set(spec.reads) - {"causal"}:
            other = evaluate(name, q, k, v, base.replace(**{knob: _other_value(V.PARAMS[knob])}))
            assert torch.equal(other.out, ref.out) and torch.equal(other.attn, ref.attn), (name, knob)
            assert other.cost == ref.cost, (name, knob)


def test_a_variant_registered_once_reaches_eval_cost_and_sliders(monkeypatch):
    monkeypatch.setitem(V.VARIANTS, TOY.name, TOY)
    q, k, v = _qkv()
    p = V.VariantParams(block=5)
    res = {r.name: r for r in evaluate_all(q, k, v, p)}
    assert set(res) == set(V.VARIANTS) and res[TOY.name].label == TOY.label
    mask = TOY.pattern(37, p)
    assert torch.equal(res[TOY.name].support, mask)
    assert cost_model(TOY.name, 37, 8, p, int(mask.sum())) == res[TOY.name].cost
    assert res[TOY.name].row()["density"] == pytest.approx(float(mask.sum()) / 37**2)
    out, attn = V.run_variant(TOY.name, q, k, v, p)
    assert not attn[~mask].any() and torch.allclose(attn.sum(-1), torch.ones(37))
    assert "block" in V.used_params()
