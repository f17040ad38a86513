"""Checks shared by the Triton test suites (interpreter on CPU, native on the GPU): run an op on the Triton backend
and hold its output, final state and every gradient to a float64 reference, as error ratios (RMSE / RMS).

The inputs are drawn fresh in float64 and rounded once to the test dtype; the reference runs on those rounded
values in float64, so the bounds measure the kernel's arithmetic, not the input rounding. Packed sequences are
checked against each sequence on its own.
"""
from __future__ import annotations

import torch

import kernels
from kernels import LaunchConfig
from kernels.utils.l2norm import l2norm
from tests.kernels.harness import OPS, assert_close, error_ratio, fresh_seed, make_inputs

# (output and final state, dq/dk/dv/dh0, dg/dbeta) error-ratio bounds; the half-precision ones are the issue's.
BOUNDS = {torch.float32: (2e-5, 1e-4, 1e-4), torch.bfloat16: (5e-3, 8e-3, 2e-2), torch.float16: (5e-3, 8e-3, 2e-2)}


def _pack(parts: list[dict]) -> dict:
    packed = {n: None if parts[0][n] is None else torch.cat([p[n] for p in parts], 1) for n in parts[0] if n != "h0"}
    packed["h0"] = None if parts[0]["h0"] is None else torch.cat([p["h0"] for p in parts])
    return packed


def _reference(op, x: dict, l2: bool, reference: str, scale: float | None) -> tuple[torch.Tensor, torch.Tensor]:
    if l2:
        x = dict(x, q=l2norm(x["q"]), k=l2norm(x["k"]))
    if reference == "naive":
        return op.reference(x, scale=scale, initial_state=x["h0"])
    before = kernels.get_backend()
    kernels.set_backend("torch")  # the chunked float64 path, held to the naive one at 1e-8 by the CPU suite
    try:
        return op.chunk(*op.args(x), scale=scale, initial_state=x["h0"], output_final_state=True, chunk_size=64)
    finally:
        kernels.set_backend(before)


def check_op(op_name: str, dtype: torch.dtype, T: int | list[int], H: int, K: int, V: int, *, B: int = 1,
             chunk_size: int = 64, device: str = "cpu", l2: bool = False, state: bool = True,
             decay_scale: float = 1.0, path: str = "chunk", reference: str = "naive", seed: int | None = None,
             bounds: tuple[float, float, float] | None = None, scale: float | None = None,
             grad: bool = True, launch: LaunchConfig | None = None) -> dict:
    """Run one case; T a list of lengths means packed sequences (cu_seqlens, B = 1); scale None means K^-0.5.
    grad=False: the forward alone, under torch.no_grad (the path that leaves out what only a backward reads).
    launch: the Triton path's launch choices (chunk path only; None: the defaults).
    Returns the error ratios."""
    op, seed = OPS[op_name], fresh_seed() if seed is None else seed
    if l2 and not op.has_beta:  # FLA's simple_gla has no use_qk_l2norm_in_kernel either
        raise ValueError(f"l2=True: {op_name} has no in-kernel L2 norm; only the delta-rule ops (with beta) do")
    lengths = T if isinstance(T, list) else None
    if lengths is None:
        base = make_inputs(op, B, T, H, K, V, seed, decay_scale=decay_scale, normalise_k=not l2, state=state)
    else:
        base = _pack([make_inputs(op, 1, L, H, K, V, seed + i, decay_scale=decay_scale, normalise_k=not l2,
                                  state=state) for i, L in enumerate(lengths)])
    base = {n: None if t is None else t.to(dtype).double() for n, t in base.items()}  # round once
    x = {n: None if t is None else t.to(device, dtype).requires_grad_() for n, t in base.items()}
    if x["h0"] is not None:
        x["h0"] = x["h0"].detach().float().requires_grad_()  # the state is float32 whatever the inputs

    cu = None
    if lengths is not None:
        cu = torch.tensor([0, *torch.tensor(lengths).cumsum(0).tolist()], dtype=torch.int32, device=device)
    kw = {"chunk_size": chunk_size, "launch": launch} if path == "chunk" else {}
    if op.has_beta:
        kw["use_qk_l2norm_in_kernel"] = l2
    fn = op.chunk if path == "chunk" else op.recurrent
    with torch.set_grad_enabled(grad):
        o, S = fn(*op.args(x), scale=scale, initial_state=x["h0"], output_final_state=True, cu_seqlens=cu, **kw)
    assert o.dtype == dtype and S.dtype == torch.float32 and o.requires_grad == grad

    gen = torch.Generator().manual_seed(seed + 1)
    do, dS = torch.randn(o.shape, generator=gen, dtype=torch.float64), torch.randn(S.shape, generator=gen,
                                                                                  dtype=torch.float64)
    names = [n for n, t in x.items() if t is not None]
    got = {}
    if grad:
        got = torch.autograd.grad((o.double() * do.to(device)).sum() + (S.double() * dS.to(device)).sum(),
                                  [x[n] for n in names])
        got = {n: t.cpu() for n, t in zip(names, got)}

    ref_device = "cpu" if reference == "naive" else device
    ref_x = {n: None if t is None else t.to(ref_device).requires_grad_() for n, t in base.items()}
    starts = [0, *torch.tensor(lengths).cumsum(0).tolist()] if lengths is not None else None
    outs, states = [], []
    for i in range(len(lengths) if lengths is not None else 1):
        part = ref_x if lengths is None else {
            n: None if t is None else (t[i:i + 1] if n == "h0" else t[:, starts[i]:starts[i + 1]])
            for n, t in ref_x.items()}
        o_i, S_i = _reference(op, part, l2, reference, scale)
        outs.append(o_i)
        states.append(S_i)
    o_ref, S_ref = torch.cat(outs, 1), torch.cat(states)
    want = torch.autograd.grad((o_ref * do.to(ref_device)).sum() + (S_ref * dS.to(ref_device)).sum(),
                               [ref_x[n] for n in names])
    want = {n: t.cpu() for n, t in zip(names, want)}

    fwd, dqkv, dgate = bounds or BOUNDS[dtype]
    assert_close("o", o.cpu(), o_ref.cpu(), fwd, seed)
    assert_close("final_state", S.cpu(), S_ref.cpu(), fwd, seed)
    if not grad:
        return {"o": error_ratio(o.cpu(), o_ref.cpu())}
    for n in names:
        assert_close(f"d{n}", got[n], want[n], dgate if n in ("g", "beta") else dqkv, seed)
    return {"o": error_ratio(o.cpu(), o_ref.cpu())} | {f"d{n}": error_ratio(got[n], want[n]) for n in names}
