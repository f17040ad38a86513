"""What does a training step keep for the backward? Bytes saved by autograd per token, by module, at e2e's scale dims.

    python benchmarks/saved_activations.py [--recipe kda_only] [--dims full] [--layers 4] [--batch 1] [--seq-len 256]
                                           [--backend triton|torch] [--device cpu|cuda] [--record [DIR]]
                                           [key=value ...]   (train.py overrides, e.g. model.linear.recompute=true)

Two forwards of our model under bf16 autocast (T and 2T tokens), inside `torch.autograd.graph.saved_tensors_hooks`:
every tensor autograd saves is charged once (by its storage) to the innermost module running when it was saved, and
storages of parameters are not counted (they exist anyway). The difference of the two runs, per token, is what grows
with the tokens; what does not (autocast's bf16 weight copies) is reported apart, per step. The table gives bytes
per token by module for one layer of each layer kind, next to the same as a count of d_model-wide fp32 vectors.
What saved activations cost the whole model is the per-token total x tokens; the peak adds weights, gradients,
optimizer state and the backward's own temporaries.

On the CPU the Triton path runs under TRITON_INTERPRET=1 (set here before triton is imported), so what the kernels'
autograd Functions save is exactly what they save on a GPU; CPU autocast casts the same matmuls to bf16 as CUDA's
(its op lists differ in a few elementwise ops), but the interpreter counts one "SM", which changes launch choices
that depend on it (see BENCHMARKS.md): `--device cuda` measures what a GPU keeps.
"""
from __future__ import annotations

import argparse
import collections
import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from common import record_arg  # noqa: E402  (imports no torch: TRITON_INTERPRET is set before triton loads)

HEAD = ["layer kind", "module", "bytes / token", "fp32 d_model vectors", "saved tensors (dtype: count)"]


def parse() -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--recipe", default="kda_only")
    ap.add_argument("--dims", choices=["full", "tiny"], default="full", help="e2e.py's SCALE_DIMS")
    ap.add_argument("--layers", type=int, default=4, help="layers built (the recipe's pattern over this many)")
    ap.add_argument("--batch", type=int, default=1)
    ap.add_argument("--seq-len", type=int, default=256)
    ap.add_argument("--backend", choices=["triton", "torch"], default="triton")
    ap.add_argument("--device", choices=["cpu", "cuda"], default="cpu")
    ap.add_argument("overrides", nargs="*", help="train.py key=value overrides of the model")
    record_arg(ap)
    a = ap.parse_args()
    if a.layers < 1 or a.batch < 1 or a.seq_len < 2:
        ap.error(f"--layers, --batch must be >= 1 and --seq-len >= 2; got {a.layers}, {a.batch}, {a.seq_len}")
    return a


class SavedBytes:
    """Charges each saved storage once to the module path on top of the stack the module hooks keep."""

    def __init__(self, model, skip_storages: set[int]):
        self.stack: list[str] = []
        self.seen = set(skip_storages)
        self.kept: list = []
        """The saved tensors themselves, held so that no storage address is reused (and skipped) in the forward."""
        self.tensors: list[tuple[str, str, tuple[int, ...], int]] = []
        """(module path, dtype, shape, bytes) of every charged storage."""
        self.charged: dict[str, int] = collections.Counter()
        self.handles = []
        for name, module in model.named_modules():
            self.handles.append(module.register_forward_pre_hook(self._enter(name)))
            self.handles.append(module.register_forward_hook(self._leave))

    def _enter(self, name: str):
        def hook(module, args) -> None:
            self.stack.append(name)
        return hook

    def _leave(self, module, args, out) -> None:
        self.stack.pop()

    def pack(self, t):
        storage = t.untyped_storage()
        key = storage.data_ptr()
        if key not in self.seen and storage.nbytes() > 0:
            self.seen.add(key)
            self.kept.append(t)
            where = self.stack[-1] if self.stack else "(outside modules)"
            self.charged[where] += storage.nbytes()
            self.tensors.append((where, str(t.dtype).replace("torch.", ""), tuple(t.shape), storage.nbytes()))
        return t

    @staticmethod
    def unpack(t):
        return t

    def remove(self) -> None:
        for h in self.handles:
            h.remove()


class PerToken:
    """What grows with the tokens, from two forwards at T and 2T: bytes per token by module path (exact for every
    tensor linear in T), the per-token tensors (those whose shape changed with T), and the per-step rest (autocast's
    weight copies, any tensor whose size does not depend on T)."""

    def __init__(self, short: SavedBytes, long: SavedBytes, tokens: int):
        self.tokens = tokens
        paths = set(short.charged) | set(long.charged)
        self.by_path = {p: (long.charged.get(p, 0) - short.charged.get(p, 0)) / tokens for p in paths}
        shapes = {(w, dt, shape) for w, dt, shape, _ in short.tensors}
        self.tensors = [(w, dt, shape, n / (2 * tokens)) for w, dt, shape, n in long.tensors
                        if (w, dt, shape) not in shapes]
        self.per_step = sum(short.charged.values()) - tokens * sum(self.by_path.values())

    def dtypes(self, prefix: str) -> collections.Counter:
        return collections.Counter(dt for w, dt, _, _ in self.tensors if w == prefix)


def measure_per_token(recipe: str, dims: dict, batch: int, seq_len: int, device: str = "cpu",
                      overrides: tuple[str, ...] = (), backend: str | None = None):
    """(model, PerToken) from forwards on (batch, seq_len) and (batch, 2 seq_len) tokens."""
    model, short = measure(recipe, dims, batch, seq_len, device, overrides, backend)
    _, long = measure(recipe, dims, batch, 2 * seq_len, device, overrides, backend)
    return model, PerToken(short, long, batch * seq_len)


def layer_rows(model, per: PerToken, d_model: int) -> list[list[str]]:
    """Per layer kind (first layer of each kind), per module below the block: bytes per token."""
    from hybrid.layout import ATTENTION

    first = {}
    for i, block in enumerate(model.blocks):
        first.setdefault(block.kind, i)
    rows = []
    for kind, i in sorted(first.items()):
        prefix = f"blocks.{i}."
        label = f"{'attention' if kind == ATTENTION else 'linear'} (blocks.{i})"
        mine = {p[len(prefix):] or "(block)": n for p, n in per.by_path.items()
                if (p.startswith(prefix) or p == prefix[:-1]) and n > 0}
        for rest, n in sorted(mine.items(), key=lambda kv: -kv[1]):
            rows.append(row(label, rest, n, d_model, per.dtypes(prefix + rest if rest != "(block)" else prefix[:-1])))
        rows.append(row(label, "**whole layer**", sum(mine.values()), d_model, None))
    rest = {p: n for p, n in per.by_path.items() if not p.startswith("blocks.") and n > 0}
    for path, n in sorted(rest.items(), key=lambda kv: -kv[1]):
        rows.append(row("outside the layers", path or "(model)", n, d_model, per.dtypes(path)))
    return rows


def row(kind: str, module: str, per_token: float, d_model: int, dtypes) -> list[str]:
    counts = "" if dtypes is None else ", ".join(f"{k}: {v}" for k, v in sorted(dtypes.items()))
    return [kind, module, f"{per_token:,.0f}", f"{per_token / (4 * d_model):.1f}", counts]


def measure(recipe: str, dims: dict, batch: int, seq_len: int, device: str = "cpu", overrides: tuple[str, ...] = (),
            backend: str | None = None):
    """(model, SavedBytes) of one forward of our `recipe` at `dims` on (batch, seq_len) random tokens, on the kernel
    `backend` (None: as the config says)."""
    import torch

    from e2e import ours_at_scale
    from kernels.backend import set_backend

    torch.manual_seed(0)
    model, _ = ours_at_scale(recipe, dims, device, overrides)
    if backend is not None:  # after the build, which sets the backend from the config (auto: torch on a CPU)
        set_backend(backend)
    params = {p.untyped_storage().data_ptr() for p in model.parameters()}
    ids = torch.randint(0, dims["vocab"], (batch, seq_len + 1), device=device)
    meter = SavedBytes(model, params)
    try:
        with torch.autograd.graph.saved_tensors_hooks(meter.pack, meter.unpack), \
                torch.autocast(device, dtype=torch.bfloat16):
            model.loss(ids[:, :-1], ids[:, 1:])
    finally:
        meter.remove()
    return model, meter


def main() -> None:
    a = parse()
    if a.device == "cpu" and a.backend == "triton":
        os.environ.setdefault("TRITON_INTERPRET", "1")
    from common import stream_table, write_record
    from e2e import SCALE_DIMS

    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # train_throughput put benchmarks/ first
    dims = dict(SCALE_DIMS[a.dims], n_layers=a.layers)
    model, per = measure_per_token(a.recipe, dims, a.batch, a.seq_len, a.device, tuple(a.overrides), a.backend)
    table = stream_table(HEAD, iter(layer_rows(model, per, dims["d_model"])))
    largest = sorted((t for t in per.tensors if t[0].startswith("blocks.0.")), key=lambda t: -t[3])[:12]
    table2 = stream_table(["module (blocks.0)", "dtype", "shape (at 2T)", "bytes / token"],
                          iter([[w, dt, " x ".join(map(str, shape)), f"{n:,.0f}"] for w, dt, shape, n in largest]))
    total = sum(per.by_path.values())
    n_full = SCALE_DIMS["full"]["n_layers"]
    extra = "; " + " ".join(a.overrides) if a.overrides else ""
    notes = (f"{a.recipe}, {a.layers} layers built, d_model {dims['d_model']}, {dims['n_heads']} heads x "
             f"{dims['head_dim']}, vocab {dims['vocab']}; forwards at B x T = {a.batch} x {a.seq_len} and "
             f"{a.batch} x {2 * a.seq_len}, their difference per token; backend {a.backend} on {a.device}, bf16 "
             f"autocast{extra}. All saved activations: {total:,.0f} bytes per token for these {a.layers} layers and "
             f"the head ({total * 32768 / 2**30:.1f} GiB at 32,768 tokens), plus {per.per_step / 2**20:,.1f} MiB per "
             f"step that does not grow with the tokens (autocast's bf16 weight copies); a whole layer's line times "
             f"{n_full} layers is e2e.py's model. The second table: the largest per-token tensors the first layer "
             "saves.")
    table = table + "\n\n" + table2
    print("\n" + table + "\n\n" + notes)
    if a.record:
        write_record("saved-activations", "Saved activations per token, by module", table, notes, a.record)


if __name__ == "__main__":
    main()
