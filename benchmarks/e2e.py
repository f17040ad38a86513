"""Whole training steps side by side in one process, one table: at our sizes through train.py, and at scale model
against model (issue 26). Every step is forward, backward and AdamW under bf16 autocast (fp32 on CPU, as train.py).

    python benchmarks/e2e.py [--sizes small base] [--recipes full_attention kda_3to1 ...] [--train-steps 40]
                             [--bare-steps 10] [--scale-shapes 8x4096 2x16384] [--scale-dims full] [--steps 6]
                             [--warmup 3] [--parts sizes scale] [--scale-models kda_only kda_3to1 llama fla]
                             [--device cuda] [--ours-set KEY=VALUE ...]
                             [--record [DIR]]

sizes  per size and recipe (default: the MiniMax-gap set), on packed synthetic documents as trained:
       train.py    `train.main` in this process (Lightning, data loading in the training process, logging, its own
                   AdamW and gradient clipping; probes off): the median perf/tokens_per_s and perf/mfu over the
                   second half of its log windows, and the peak memory of the whole run
       bare step   the same model and data without Lightning: batches generated beforehand and moved to the device,
                   then forward, backward and fused AdamW only; its 'vs' cell is train.py's share of it
scale  per (B, T): our kda_only and kda_3to1 at 12 layers, d_model 1024, 8 heads x 128, SwiGLU 2816, vocab 32000
       (our MLA at the base preset's ranks), FLA's KDAForCausalLM and Hugging Face's LlamaForCausalLM (SDPA) at the
       same dims, on random token rows (no packing); fused AdamW for all
--ours-set applies train.py overrides to our models in both parts, to A/B a switch (model.fused_head_loss=false: the
plain head + F.cross_entropy). --scale-dims tiny and --sizes tiny make a CPU run of seconds (the test's). Warm-up
steps are not timed; a row that runs out of memory says OOM and the next row starts clean. The default step counts
aim at one device call of under 10 minutes on one H100 (an estimate until a record says: its notes give the whole
run's seconds); --parts splits the run across two calls.
"""
from __future__ import annotations

import argparse
import contextlib
import gc
import io
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from common import (  # noqa: E402
    ROOT,
    adamw,
    failure_cell,
    kernel_benchmark,
    record_arg,
    stream_table,
    timed_steps,
    training_step,
    write_record,
)
from train_throughput import summarize, train_argv  # noqa: E402

from experiments.minimax_gap_validation.validate_gpu import RECIPES as MINIMAX_GAP_SET  # noqa: E402

# model dims at scale: layers, width, heads x head dim, MLP hidden, vocab; `size` is the preset under our overrides
SCALE_DIMS = {
    "full": {"n_layers": 12, "d_model": 1024, "n_heads": 8, "head_dim": 128, "mlp_hidden": 2816, "vocab": 32000,
             "size": "base"},
    "tiny": {"n_layers": 4, "d_model": 32, "n_heads": 2, "head_dim": 16, "mlp_hidden": 96, "vocab": 256,
             "size": "tiny"},
}
OURS_AT_SCALE = ("kda_only", "kda_3to1")
HEAD = ["part", "model", "B x T", "tokens/s", "MFU", "peak GiB", "vs"]


def names(folder: Path) -> list[str]:
    return sorted(p.stem for p in folder.glob("*.yaml"))


def cleanup() -> None:
    import torch

    gc.collect()
    if torch.cuda.is_available():
        torch.cuda.empty_cache()


def peak_gib(device: str) -> float | None:
    import torch

    return torch.cuda.max_memory_allocated() / 2**30 if device == "cuda" else None


def through_train_py(recipe: str, size: str, steps: int, log_every: int, device: str, out: Path,
                     overrides: tuple[str, ...] = ()) -> dict:
    """train.main in this process: tokens/s and MFU from its metrics.csv, peak memory of the whole run."""
    import torch

    import train

    extra = [f"trainer.log_every={log_every}", *overrides] + (["trainer.accelerator=cpu"] if device == "cpu" else [])
    before = 0.0
    if device == "cuda":
        torch.cuda.reset_peak_memory_stats()
        before = torch.cuda.memory_allocated() / 2**30  # whatever an earlier row left behind is not this run's
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        code = train.main(train_argv(recipe, size, steps, out, extra))
    if code != 0:
        raise RuntimeError(f"train.py exited {code}: {printed.getvalue().strip().splitlines()[-1:]}")
    peak = peak_gib(device)
    return {**summarize(out / recipe / "metrics.csv"), "peak": None if peak is None else peak - before}


def bare_step(cfg, steps: int, warmup: int, device: str) -> dict:
    """The model train.py builds from cfg, stepped on the same packed batches without Lightning."""
    import torch

    from data.build import build_datamodule
    from hybrid.train.optim import param_groups
    from hybrid.train.throughput import peak_flops
    from run.build import build_module

    dm = build_datamodule(cfg.data)
    dm.setup("fit")
    it = iter(dm.train_dataloader())
    batches = [{k: v.to(device) if isinstance(v, torch.Tensor) else v for k, v in dm.consume(next(it)).items()
                if k in ("input_ids", "labels", "cu_seqlens", "cu_seqlens_host")} for _ in range(steps)]
    del it
    model = build_module(cfg, dm.vocab_size).model.to(device)
    opt = adamw(param_groups(model, cfg.optim.weight_decay), device, lr=cfg.optim.lr)
    step = training_step(lambda b: model.loss(b["input_ids"], b["labels"], b.get("cu_seqlens"),
                                              b.get("cu_seqlens_host")), opt, device)
    # warm up on every batch once: an unseen packed layout may still compile a kernel specialisation inside the
    # timed steps (bare rows slower than train.py in record 2026-12-06_6199d4e_e2e_h200.md)
    seconds, peak = timed_steps(step, batches, max(warmup, len(batches)), device)
    tps = batches[0]["input_ids"].numel() / seconds
    peak_flop_s = peak_flops(next(model.parameters()).device)
    mfu = tps * model.flops_per_token(cfg.data.seq_len) / peak_flop_s if peak_flop_s else float("nan")
    return {"tokens_per_s": tps, "mfu": mfu, "peak": peak}


def sizes_rows(a, device: str):
    """Per size and recipe: the train.py row, then the bare step's."""
    from run.load import load_run_config

    with tempfile.TemporaryDirectory() as tmp:
        for size in a.sizes:
            for recipe in a.recipes:
                cfg = load_run_config([f"recipe={recipe}", f"size={size}", *a.ours_set])
                shape = f"{cfg.data.batch_size} x {cfg.data.seq_len}"
                log_every = cfg.trainer.log_every
                if a.train_steps < 3 * log_every:  # too few log windows: log more often
                    log_every = max(1, a.train_steps // 4)
                t0 = time.perf_counter()
                bare = attempt(bare_step, cfg, a.bare_steps, a.warmup, device)
                trained = attempt(through_train_py, recipe, size, a.train_steps, log_every, device,
                                  Path(tmp) / f"{size}-{recipe}", tuple(a.ours_set))
                share = (f"{trained['tokens_per_s'] / bare['tokens_per_s']:.2f}x the bare step"
                         if isinstance(bare, dict) and isinstance(trained, dict) else "-")
                print(f"  ({size} {recipe}: {time.perf_counter() - t0:.0f} s)", file=sys.stderr, flush=True)
                yield [f"{size}, train.py", recipe, shape, *cells(trained), share]
                yield [f"{size}, bare step", recipe, shape, *cells(bare), ""]


def cells(r) -> list[str]:
    """tokens/s, MFU, peak GiB of a result dict, or the failure across the row."""
    if not isinstance(r, dict):
        return [r, "", ""]
    mfu = "-" if r["mfu"] != r["mfu"] else f"{r['mfu']:.1%}"
    return [f"{r['tokens_per_s']:,.0f}", mfu, "-" if r["peak"] is None else f"{r['peak']:.1f}"]


def ours_at_scale(recipe: str, dims: dict, device: str, overrides: tuple[str, ...] = ()):
    from run.build import build_module
    from run.load import load_run_config

    cfg = load_run_config([f"recipe={recipe}", f"size={dims['size']}", f"model.d_model={dims['d_model']}",
                           f"model.n_layers={dims['n_layers']}", f"model.n_heads={dims['n_heads']}",
                           f"model.head_dim={dims['head_dim']}", f"model.mlp_hidden={dims['mlp_hidden']}",
                           f"model.vocab_size={dims['vocab']}", *overrides])
    model = build_module(cfg, dims["vocab"]).model.to(device)
    return model, lambda b: model.loss(b["input_ids"], b["labels"])


def fla_kda(dims: dict, device: str):
    from fla.models import KDAConfig, KDAForCausalLM

    if device != "cuda":
        raise RuntimeError("FLA's kernels need CUDA")
    config = KDAConfig(hidden_size=dims["d_model"], num_hidden_layers=dims["n_layers"], num_heads=dims["n_heads"],
                       head_dim=dims["head_dim"], intermediate_size=dims["mlp_hidden"], vocab_size=dims["vocab"],
                       tie_word_embeddings=False)
    model = KDAForCausalLM(config).to(device)
    return model, lambda b: model(input_ids=b["input_ids"], labels=b["input_ids"]).loss


def hf_llama(dims: dict, device: str):
    from transformers import LlamaConfig, LlamaForCausalLM

    config = LlamaConfig(hidden_size=dims["d_model"], num_hidden_layers=dims["n_layers"],
                         num_attention_heads=dims["n_heads"], num_key_value_heads=dims["n_heads"],
                         head_dim=dims["head_dim"], intermediate_size=dims["mlp_hidden"], vocab_size=dims["vocab"],
                         max_position_embeddings=1 << 17, tie_word_embeddings=False)
    config._attn_implementation = "sdpa"
    model = LlamaForCausalLM(config).to(device)
    return model, lambda b: model(input_ids=b["input_ids"], labels=b["input_ids"]).loss


MODELS_AT_SCALE = {
    "ours kda_only": lambda dims, device, overrides=(): ours_at_scale("kda_only", dims, device, overrides),
    "ours kda_3to1": lambda dims, device, overrides=(): ours_at_scale("kda_3to1", dims, device, overrides),
    "HF LlamaForCausalLM (SDPA)": hf_llama,
    "FLA KDAForCausalLM": fla_kda,  # last: its first step at a shape autotunes for minutes
}
INSTALL = {"FLA KDAForCausalLM": "flash-linear-attention", "HF LlamaForCausalLM (SDPA)": "transformers"}
SHORT_NAMES = dict(zip(("kda_only", "kda_3to1", "llama", "fla"), MODELS_AT_SCALE))
"""--scale-models' names for MODELS_AT_SCALE's rows."""
# whose tokens/s and peak ours is read against (issue 26's targets)
AGAINST = {"ours kda_only": ("FLA KDAForCausalLM", "FLA KDA"), "ours kda_3to1": ("HF LlamaForCausalLM (SDPA)", "Llama")}


def attempt(measure, *args):
    """measure(*args), or the cell that says why not (OOM, fails); memory released either way, so the next row
    starts clean."""
    try:
        result = measure(*args)
    except Exception as e:  # noqa: BLE001 - the row says why; the next row still runs
        result = failure_cell(e)
    cleanup()  # after the model, its optimizer and the traceback are gone
    return result


def scale_one(name: str, dims: dict, B: int, T: int, steps: int, warmup: int, device: str,
              overrides: tuple[str, ...] = ()):
    """One model at one shape: a result dict, or the cell that says why not (not installed, OOM, fails)."""
    import importlib.util

    package = INSTALL.get(name)
    if package and importlib.util.find_spec("fla" if package == "flash-linear-attention" else package) is None:
        return f"not installed (pip install {package})"
    return attempt(measure_at_scale, name, dims, B, T, steps, warmup, device, overrides)


def measure_at_scale(name: str, dims: dict, B: int, T: int, steps: int, warmup: int, device: str,
                     overrides: tuple[str, ...] = ()) -> dict:
    import torch

    make = MODELS_AT_SCALE[name]
    model, loss_of = make(dims, device, overrides) if name.startswith("ours ") else make(dims, device)
    gen = torch.Generator(device=device).manual_seed(B * T)
    ids = torch.randint(0, dims["vocab"], (B, T + 1), device=device, generator=gen)
    batch = {"input_ids": ids[:, :-1], "labels": ids[:, 1:]}  # ours takes shifted labels; HF and FLA shift inside
    step = training_step(loss_of, adamw(model.parameters(), device), device)
    seconds, peak = timed_steps(step, [batch] * steps, warmup, device)
    return {"tokens_per_s": B * T / seconds, "mfu": float("nan"), "peak": peak}


def scale_rows(a, device: str):
    dims = SCALE_DIMS[a.scale_dims]
    for B, T in a.scale_shapes:
        results, interrupted = {}, False
        for name in (SHORT_NAMES[m] for m in a.scale_models):
            t0 = time.perf_counter()
            try:
                results[name] = scale_one(name, dims, B, T, a.steps, a.warmup, device, tuple(a.ours_set))
            except KeyboardInterrupt:  # the shape's finished models still make their rows
                interrupted = True
                break
            print(f"  ({name} {B}x{T}: {time.perf_counter() - t0:.0f} s)", file=sys.stderr, flush=True)
        for name, r in results.items():
            other, short = AGAINST.get(name, (None, ""))
            other = results.get(other)
            vs = ""
            if isinstance(r, dict) and isinstance(other, dict):
                mem = (f", {r['peak'] / other['peak']:.2f}x its peak" if r["peak"] and other["peak"] else "")
                vs = f"{r['tokens_per_s'] / other['tokens_per_s']:.2f}x {short}'s tokens/s{mem}"
            yield ["scale", name, f"{B} x {T}", *cells(r), vs]
        if interrupted:
            raise KeyboardInterrupt


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--parts", nargs="+", choices=["sizes", "scale"], default=["sizes", "scale"])
    ap.add_argument("--sizes", nargs="+", choices=names(ROOT / "recipes" / "size"), default=["small", "base"])
    ap.add_argument("--recipes", nargs="+", choices=names(ROOT / "recipes"), default=list(MINIMAX_GAP_SET),
                    help="at our sizes (default: the MiniMax-gap set)")
    ap.add_argument("--train-steps", type=int, default=40, help="train.py steps per (size, recipe)")
    ap.add_argument("--bare-steps", type=int, default=10, help="timed bare steps per (size, recipe)")
    ap.add_argument("--scale-shapes", nargs="+", type=kernel_benchmark().shape_arg, metavar="BxT",
                    default=[(8, 4096), (2, 16384)])
    ap.add_argument("--scale-dims", choices=sorted(SCALE_DIMS), default="full")
    ap.add_argument("--scale-models", nargs="+", choices=list(SHORT_NAMES), default=list(SHORT_NAMES),
                    help="which models at scale (default: all four, FLA last)")
    ap.add_argument("--steps", type=int, default=6, help="timed steps per model at scale")
    ap.add_argument("--warmup", type=int, default=3, help="untimed steps before every scale measurement (the bare step "
                    "warms up on each of its batches, at least this many steps)")
    ap.add_argument("--device", choices=["cuda", "cpu"], default=None, help="default: cuda when there is one")
    ap.add_argument("--ours-set", nargs="+", default=[], metavar="KEY=VALUE",
                    help="train.py overrides for our models, e.g. model.fused_head_loss=false")
    record_arg(ap)
    a = ap.parse_args()
    for flag in ("train_steps", "bare_steps", "steps"):
        if getattr(a, flag) < 1:
            ap.error(f"--{flag.replace('_', '-')} must be >= 1, got {getattr(a, flag)}")
    if a.warmup < 0:
        ap.error(f"--warmup must be >= 0, got {a.warmup}")
    if a.ours_set:
        from run.errors import ConfigError
        from run.load import load_run_config

        try:
            load_run_config(["recipe=kda_only", *a.ours_set])
        except ConfigError as e:
            ap.error(f"--ours-set: {e}")
    import torch

    device = a.device or ("cuda" if torch.cuda.is_available() else "cpu")
    if device == "cuda" and not torch.cuda.is_available():
        ap.error("--device cuda: no CUDA device here (use --device cpu)")

    def rows():
        if "sizes" in a.parts:
            yield from sizes_rows(a, device)
        if "scale" in a.parts:
            yield from scale_rows(a, device)
    start = time.perf_counter()
    table = stream_table(HEAD, rows())
    dims = SCALE_DIMS[a.scale_dims]
    optimizer = "fused AdamW" if device == "cuda" else "AdamW"
    parts = [f"{'bf16 autocast' if device == 'cuda' else 'fp32 (CPU)'}."]
    if a.ours_set:
        parts.append(f"Ours with {' '.join(a.ours_set)}.")
    if "sizes" in a.parts:
        parts.append(f"At our sizes: train.py {a.train_steps} steps (tokens/s and MFU: medians over the second half of "
                     "its log windows, the first step excluded; peak: the whole run, validation at the end included); "
                     f"the bare step: {a.bare_steps} timed steps after a warm-up pass over the same batches, "
                     f"{optimizer}, no clipping or logging, MFU from the model's FLOP count "
                     "(HybridLM.flops_per_token).")
    if "scale" in a.parts:
        parts.append(f"At scale: {dims['n_layers']} layers, d_model {dims['d_model']}, {dims['n_heads']} heads x "
                     f"{dims['head_dim']}, SwiGLU {dims['mlp_hidden']}, vocab {dims['vocab']}, random tokens, "
                     f"{a.steps} timed steps after {a.warmup} warm-up, {optimizer}.")
    parts.append("Peak GiB: the allocator's peak, weights, gradients and optimizer state included. "
                 f"Whole run {time.perf_counter() - start:.0f} s.")
    notes = " ".join(parts)
    print("\n" + table + "\n\n" + notes)
    if a.record:
        write_record("e2e", "End to end: training steps at our sizes through train.py, and model against model at "
                     "scale", table, notes, a.record)


if __name__ == "__main__":
    main()
