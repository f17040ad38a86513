"""The whole stack: every linear variant x attention type builds, trains one step, and decodes like a full forward."""
from __future__ import annotations

import itertools

import pytest
import torch

from hybrid.config import ModelConfig
from hybrid.lm import HybridLM

VARIANTS = ["linear", "lightning", "deltanet", "gated_deltanet", "kda"]
ATTENTIONS = ["mha", "gated", "mla", "swa", "dsa"]


def tiny(variant: str, attention: str, **kw) -> ModelConfig:
    cfg = ModelConfig(vocab_size=50, d_model=32, n_layers=2, n_heads=2, head_dim=16, ratio="1:1", **kw)
    cfg.linear.variant, cfg.linear.chunk_size = variant, 8
    cfg.attention.type, cfg.attention.window, cfg.attention.topk = attention, 6, 5
    cfg.attention.kv_lora_rank, cfg.attention.rope_head_dim = 16, 8
    cfg.attention.index_heads, cfg.attention.index_head_dim = 2, 8
    return cfg


@pytest.mark.parametrize("variant, attention", list(itertools.product(VARIANTS, ATTENTIONS)))
def test_every_combination_trains_with_finite_gradients(variant, attention):
    torch.manual_seed(0)
    model = HybridLM(tiny(variant, attention))
    assert model.layout == ["L", "A"]
    ids = torch.randint(0, 50, (2, 19))
    loss = model.loss(ids[:, :-1], ids[:, 1:])
    loss.backward()
    assert torch.isfinite(loss)
    for name, p in model.named_parameters():
        assert p.grad is not None, f"{name} got no gradient"
        assert torch.isfinite(p.grad).all(), f"{name} has a non-finite gradient"


@pytest.mark.parametrize("variant, attention", [(v, "mha") for v in VARIANTS] + [("kda", a) for a in ATTENTIONS])
def test_cached_decoding_equals_full_forward(variant, attention):
    torch.manual_seed(1)
    model = HybridLM(tiny(variant, attention)).double().eval()
    ids = torch.randint(0, 50, (2, 14))
    with torch.no_grad():
        full, _ = model(ids)
        caches = model.new_cache()
        prefill, caches = model(ids[:, :5], caches)  # chunked prefill, then one token at a time
        steps = [prefill]
        for t in range(5, 14):
            logits, caches = model(ids[:, t : t + 1], caches)
            steps.append(logits)
    stepped = torch.cat(steps, dim=1)
    assert torch.allclose(stepped, full, atol=1e-8, rtol=1e-6), (stepped - full).abs().max()


def test_generate_is_greedy_argmax_of_full_forward():
    torch.manual_seed(2)
    model = HybridLM(tiny("gated_deltanet", "gated")).double().eval()
    prompt = torch.randint(0, 50, (2, 7))
    new = model.generate(prompt, max_new_tokens=6)
    seq = prompt
    for _ in range(6):
        logits, _ = model(seq)
        seq = torch.cat([seq, logits[:, -1].argmax(-1, keepdim=True)], dim=1)
    assert torch.equal(new, seq[:, 7:])


def test_flops_count_linear_mixers_as_linear():
    lin = HybridLM(tiny("kda", "mha", pattern="LL"))
    att = HybridLM(tiny("kda", "mha", pattern="AA"))
    growth_lin = lin.flops_per_token(4096) - lin.flops_per_token(512)
    growth_att = att.flops_per_token(4096) - att.flops_per_token(512)
    assert growth_att > 0 and growth_lin < 0.05 * growth_att


@pytest.mark.parametrize("attention", ["mha", "swa"])
def test_packed_batch_equals_documents_run_separately(attention):
    torch.manual_seed(3)
    model = HybridLM(tiny("gated_deltanet", attention)).double().eval()
    ids = torch.randint(0, 50, (2, 10))
    cu = torch.tensor([0, 4, 10, 13, 20])  # row 0: docs [0,4) [4,10); row 1: [10,13) [13,20)
    packed, _ = model(ids, cu_seqlens=cu)
    flat = ids.reshape(-1)
    separate = torch.cat([model(flat[a:b][None])[0][0] for a, b in zip(cu[:-1].tolist(), cu[1:].tolist())])
    assert torch.allclose(packed.reshape(20, -1), separate, atol=1e-10)
    with pytest.raises(ValueError, match="row boundary"):
        model(ids, cu_seqlens=torch.tensor([0, 4, 13, 20]))


def test_packed_batch_with_its_host_copy_equals_it_without_and_reads_nothing_back(monkeypatch):
    torch.manual_seed(3)
    model = HybridLM(tiny("kda", "mha")).double().eval()
    ids = torch.randint(0, 50, (2, 10))
    offsets = (0, 4, 10, 13, 20)
    expected, _ = model(ids, cu_seqlens=torch.tensor(offsets))

    def no_read(*args, **kwargs):
        raise AssertionError("cu_seqlens was read back from its tensor")

    for name in ("tolist", "item", "__bool__", "__int__"):
        monkeypatch.setattr(torch.Tensor, name, no_read)
    logits, _ = model(ids, cu_seqlens=torch.tensor(offsets), cu_seqlens_host=offsets)
    assert torch.equal(logits, expected)
    with pytest.raises(ValueError, match="row boundary"):
        model(ids, cu_seqlens=torch.tensor([0, 4, 13, 20]), cu_seqlens_host=(0, 4, 13, 20))


@pytest.mark.parametrize("tied", [False, True])
def test_fused_head_loss_equals_the_plain_head(tied):
    """model.fused_head_loss (kernels.linear_cross_entropy) against the head + F.cross_entropy: the same loss and
    parameter gradients, with padding / prompt labels (-100) and packed documents (float32: the plain head's
    cross-entropy is float32 whatever the model's dtype; float64 is the kernel test's)."""
    from tests.kernels.harness import error_ratio

    torch.manual_seed(0)
    ids = torch.randint(0, 50, (2, 21))
    labels = ids[:, 1:].clone()
    labels[0, :7] = -100  # a prompt, answers-only
    cu = torch.tensor([0, 9, 20, 31, 40])
    results = []
    for fused in (True, False):
        model = HybridLM(tiny("kda", "mha", tie_embeddings=tied, fused_head_loss=fused))
        if results:
            model.load_state_dict(results[0][2])
        loss = model.loss(ids[:, :-1], labels, cu_seqlens=cu)
        loss.backward()
        results.append((loss.detach(), {n: p.grad for n, p in model.named_parameters()}, model.state_dict()))
    (fused_loss, fused_grads, _), (plain_loss, plain_grads, _) = results
    assert error_ratio(fused_loss, plain_loss) <= 1e-6
    assert fused_grads.keys() == plain_grads.keys()
    for name in plain_grads:
        assert error_ratio(fused_grads[name], plain_grads[name]) <= 1e-5, name


@pytest.mark.parametrize("fused", [True, False])
def test_fused_norm_reaches_every_norm(fused):
    """model.fused_norm reaches every RMSNorm of the stack (pre-norms, q/k and output norms, the final norm)."""
    from hybrid.norm import RMSNorm

    model = HybridLM(tiny("kda", "mla", fused_norm=fused))
    norms = [m for m in model.modules() if isinstance(m, RMSNorm)]
    assert len(norms) > 2 * len(model.blocks) and all(m.fused is fused for m in norms)


@pytest.mark.parametrize("fused", [True, False])
def test_fused_conv_reaches_every_short_conv(fused):
    from hybrid.linear.short_conv import ShortConv

    model = HybridLM(tiny("gated_deltanet", "mha", fused_conv=fused))
    convs = [m for m in model.modules() if isinstance(m, ShortConv)]
    assert len(convs) == 3 and all(m.fused is fused for m in convs)


@pytest.mark.parametrize("fused", [True, False])
def test_fused_rope_reaches_every_rotary_embedding(fused):
    from hybrid.attention.rope import RotaryEmbedding

    for attention, count in (("mha", 1), ("gated", 1), ("mla", 1), ("dsa", 2)):  # dsa: its indexer's own rope
        model = HybridLM(tiny("kda", attention, fused_rope=fused))
        ropes = {id(m): m for m in model.modules() if isinstance(m, RotaryEmbedding)}.values()
        assert len(ropes) == count and all(m.fused is fused for m in ropes), attention


@pytest.mark.parametrize("variant, attention", [("kda", "mha"), ("gated_deltanet", "gated"), ("kda", "mla")])
def test_fused_kernels_train_as_the_eager_model(variant, attention):
    """model.fused_conv, fused_norm, fused_rope, fused_gates and fused_mlp on the Triton backend (the interpreter
    here): the same loss and parameter gradients as the eager convolutions, norms, rotations, decays and SwiGLU
    activations on a packed batch, and the fused kernels did run."""
    import kernels
    import kernels.rms_norm.triton as norm_kernels
    import kernels.mamba_decay.triton as decay_kernels
    import kernels.rope.triton as rope_kernels
    import kernels.short_conv.triton as conv_kernels
    import kernels.swiglu.triton as mlp_kernels
    from kernels.utils.triton_support import interpreting
    from tests.kernels.harness import error_ratio

    if not interpreting():
        pytest.skip("needs TRITON_INTERPRET=1 (tests/conftest.py sets it)")
    calls = []
    conv, norm, rope = conv_kernels.short_conv_triton, norm_kernels.rms_norm_triton, rope_kernels.rope_triton
    decay, swiglu = decay_kernels.mamba_decay_triton, mlp_kernels.swiglu_forward
    torch.manual_seed(0)
    ids = torch.randint(0, 50, (2, 21))
    cu = torch.tensor([0, 2, 9, 20, 31, 40])
    results = []
    before = kernels.get_backend()
    kernels.set_backend("triton")
    try:
        for fused in (True, False):
            model = HybridLM(tiny(variant, attention, fused_conv=fused, fused_norm=fused, fused_rope=fused,
                                  fused_gates=fused, fused_mlp=fused))
            if results:
                model.load_state_dict(results[0][2])
            with pytest.MonkeyPatch.context() as mp:
                mp.setattr(conv_kernels, "short_conv_triton", lambda *a: calls.append("conv") or conv(*a))
                mp.setattr(norm_kernels, "rms_norm_triton", lambda *a: calls.append("norm") or norm(*a))
                mp.setattr(rope_kernels, "rope_triton", lambda *a: calls.append("rope") or rope(*a))
                mp.setattr(decay_kernels, "mamba_decay_triton", lambda *a: calls.append("decay") or decay(*a))
                mp.setattr(mlp_kernels, "swiglu_forward", lambda *a: calls.append("mlp") or swiglu(*a))
                loss = model.loss(ids[:, :-1], ids[:, 1:], cu_seqlens=cu)
            loss.backward()
            results.append((loss.detach(), {n: p.grad for n, p in model.named_parameters()}, model.state_dict()))
    finally:
        kernels.set_backend(before)
    assert calls.count("conv") == 3 and calls.count("norm") >= 3 and calls.count("rope") == 2  # q and k
    assert calls.count("decay") == 1 and calls.count("mlp") == 2  # one per block
    (fused_loss, fused_grads, _), (eager_loss, eager_grads, _) = results
    assert error_ratio(fused_loss, eager_loss) <= 1e-6
    for name in eager_grads:  # two float32 forms that sum in different orders (each kernel vs float64: its own test)
        assert error_ratio(fused_grads[name], eager_grads[name]) <= 1e-4, name


def _convs_train_decode_and_pack(model: HybridLM, is_conv) -> None:
    """The three convolutions (named as is_conv says) get gradients; decoding token by token after a prefill gives the
    full forward's logits; packed documents give each document's logits alone."""
    ids = torch.randint(0, 50, (2, 14))
    model.loss(ids[:, :-1], ids[:, 1:]).backward()
    conv = {n: p for n, p in model.named_parameters() if is_conv(n)}
    assert len(conv) == 3 and all(p.grad is not None and p.grad.abs().sum() > 0 for p in conv.values())  # in use
    model.eval()
    with torch.no_grad():
        full, _ = model(ids)
        prefill, caches = model(ids[:, :5], model.new_cache())
        steps = [prefill]
        for t in range(5, 14):
            logits, caches = model(ids[:, t : t + 1], caches)
            steps.append(logits)
        assert torch.allclose(torch.cat(steps, dim=1), full, atol=1e-8, rtol=1e-6)
        cu = torch.tensor([0, 4, 14, 17, 28])
        packed, _ = model(ids, cu_seqlens=cu)
        flat = ids.reshape(-1)
        separate = torch.cat([model(flat[a:b][None])[0][0] for a, b in zip(cu[:-1].tolist(), cu[1:].tolist())])
        assert torch.allclose(packed.reshape(28, -1), separate, atol=1e-10)


@pytest.mark.parametrize("attention", ["mha", "swa"])
def test_attention_short_convs_train_decode_and_pack_like_the_rest(attention):
    """attention.conv_size: gradients reach the convolutions, decoding carries their state, documents restart them."""
    torch.manual_seed(4)
    cfg = tiny("kda", attention)
    cfg.attention.conv_size = 3
    _convs_train_decode_and_pack(HybridLM(cfg).double(), lambda n: ".conv.q." in n or ".conv.k." in n
                                 or ".conv.v." in n)


@pytest.mark.parametrize("variant", ["linear", "lightning"])
def test_plain_linear_short_convs_train_decode_and_pack_like_the_rest(variant):
    """linear.plain_conv_size: gradients reach the convolutions, decoding carries their state, documents restart
    them, and 0 builds the published mixer (no conv parameters)."""
    assert not any(".conv." in n for n, _ in HybridLM(tiny(variant, "mha")).named_parameters())
    torch.manual_seed(5)
    cfg = tiny(variant, "mha")
    cfg.linear.plain_conv_size = 3
    _convs_train_decode_and_pack(HybridLM(cfg).double(), lambda n: ".mixer.conv." in n)


@pytest.mark.parametrize("variant, size, match", [
    ("kda", 4, "plain_conv_size=4 is not built for variant='kda' .its short convs are model.linear.conv_size.; "
               "valid: 0, or variant one of lightning, linear"),
    ("linear", -2, "plain_conv_size=-2; valid: 0")])
def test_plain_conv_size_errors_name_what_would_be_valid(variant, size, match):
    cfg = tiny(variant, "mha")
    cfg.linear.plain_conv_size = size
    with pytest.raises(ValueError, match=match):
        HybridLM(cfg)


@pytest.mark.parametrize("attention, size, match", [("mla", 4, "not built for type='mla'; valid: 0, or type one of"),
                                                    ("mha", -1, "attention.conv_size=-1; valid: 0")])
def test_attention_conv_size_errors_name_what_would_be_valid(attention, size, match):
    cfg = tiny("kda", attention)
    cfg.attention.conv_size = size
    with pytest.raises(ValueError, match=match):
        HybridLM(cfg)
