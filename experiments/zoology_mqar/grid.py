"""Zoology's MQAR figure (Arora et al. 2023, Fig. 2) on our mixers: accuracy vs d_model, per sequence length.

One model per (mixer, d_model, lr), 2 layers of the mixer under test (each block mixer + SwiGLU MLP, as HybridLM
builds it; delta-rule mixers carry their own short convs; 'linear+conv' and the like give the others width-4 short
convs on q, k, v, as Zoology's models have), trained on a mixture of (seq_len, pairs) segments, one
segment per step, and tested on 1,000 held-out examples of each. Cells run as concurrent processes on one GPU;
results append to a JSON-lines file, so a rerun skips finished cells, and each cell saves its training state
(OUT.ckpt/CELL.pt) every 500 steps and when stopped, so a rerun also resumes unfinished ones (--stop-after S stops
every cell, saved, S seconds in: a grid longer than one sitting runs over several).

    python experiments/zoology_mqar/grid.py --out results.jsonl --mixers mha,linear,gated_deltanet,kda \
        --d-models 64,128 --lrs 1e-3,3e-3 --steps 1500 --jobs 16
    python experiments/zoology_mqar/grid.py --plot results.jsonl --fig zoology_mqar.png
"""
from __future__ import annotations

import argparse
import json
import signal
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

SEGMENTS = ((64, 4), (128, 8), (256, 16), (512, 64))
"""(seq_len, key-value pairs) as in Zoology's figure 2; --segments replaces them (a smaller check on the CPU)."""


def parse_segments(text: str) -> tuple[tuple[int, int], ...]:
    """'64x4,128x8' -> ((64, 4), (128, 8))."""
    try:
        segs = tuple((int(T), int(p)) for T, p in (part.split("x") for part in text.split(",")))
    except ValueError:
        raise ValueError(f"--segments {text!r}; valid: SEQ_LENxPAIRS[,...], e.g. 64x4,128x8") from None
    bad = [f"{T}x{p}" for T, p in segs if 4 * p > T or p < 1]
    if bad:
        raise ValueError(f"--segments {','.join(bad)}: each needs 1 <= pairs <= seq_len / 4 (keys, values, queries)")
    return segs


def cell_name(mixer: str, d_model: int, lr: float) -> str:
    return f"{mixer}-d{d_model}-lr{lr:g}"


def train_one(mixer: str, d_model: int, lr: float, steps: int, batch: int, vocab: int, seed: int,
              ckpt: str | None = None, segments: tuple[tuple[int, int], ...] = SEGMENTS) -> dict:
    import torch

    from data.synthetic.zoology_mqar import zoology_mqar
    from eval.calibration.mqar_toy import ToyRun, answer_accuracy, toy_model, train_toy, trained_seconds
    from run.commit import short_commit

    dev = "cuda" if torch.cuda.is_available() else "cpu"
    train = [zoology_mqar(100_000 // len(segments), vocab, T, p, seed=10 + i) for i, (T, p) in enumerate(segments)]
    test = [zoology_mqar(1000, vocab, T, p, seed=100 + i) for i, (T, p) in enumerate(segments)]
    torch.manual_seed(seed)
    model = toy_model(mixer, d_model, 1 if mixer.startswith("mha") else max(1, d_model // 64), vocab).to(dev)
    t0 = time.time()

    def progress(step: int, loss: torch.Tensor) -> None:
        if step % 500 == 0:
            print(f"{cell_name(mixer, d_model, lr)}: step {step}/{steps}, loss {loss.item():.3f}, "
                  f"{time.time() - t0:.0f} s", flush=True)

    loss = train_toy(model, train, ToyRun(steps=steps, batch=batch, lr=lr, seed=seed, ckpt=ckpt), on_step=progress)
    seconds = trained_seconds(ckpt) if ckpt else time.time() - t0  # training, over every sitting
    acc = {f"{T}x{p}": round(answer_accuracy(model, x, y), 4) for (T, p), (x, y) in zip(segments, test)}
    return {"mixer": mixer, "d_model": d_model, "lr": lr, "steps": steps, "batch": batch, "vocab": vocab,
            "seed": seed, "acc": acc, "final_loss": round(loss, 4), "seconds": round(seconds, 1),
            "device": torch.cuda.get_device_name() if dev == "cuda" else "cpu", "commit": short_commit()}


def run_grid(a: argparse.Namespace) -> None:
    out = Path(a.out)
    done = set()
    if out.exists():
        done = {cell_name(r["mixer"], r["d_model"], r["lr"]) for r in map(json.loads, out.read_text().splitlines())}
    # learning rates outermost: a grid stopped part-way has every (mixer, d_model) point at the first lrs
    todo = [(m, d, lr) for lr in map(float, a.lrs.split(",")) for d in map(int, a.d_models.split(","))
            for m in a.mixers.split(",") if cell_name(m, d, lr) not in done]
    print(f"{len(done)} cells done, {len(todo)} to run, {a.jobs} at a time", flush=True)
    ckpts = Path(f"{out}.ckpt")
    ckpts.mkdir(parents=True, exist_ok=True)
    t0 = time.time()
    running: list[tuple[subprocess.Popen, str]] = []

    def stop(signum, frame):  # SIGTERM (a scheduler, `timeout`) stops the grid as Ctrl-C does
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, stop)
    try:
        while todo or running:
            late = a.stop_after is not None and time.time() - t0 > a.stop_after
            while todo and len(running) < a.jobs and not late:
                m, d, lr = todo.pop(0)
                cmd = [sys.executable, __file__, "--one", f"{m},{d},{lr}", "--out", str(out), "--steps",
                       str(a.steps), "--batch", str(a.batch), "--vocab", str(a.vocab), "--segments", a.segments,
                       "--ckpt", str(ckpts / f"{cell_name(m, d, lr)}.pt")]
                running.append((subprocess.Popen(cmd), cell_name(m, d, lr)))
            if late:
                break
            time.sleep(2)
            for p, name in list(running):
                if p.poll() is not None:
                    running.remove((p, name))
                    print(f"{name}: exit {p.returncode}", flush=True)
    finally:  # stopped (--stop-after, Ctrl-C, SIGTERM): each cell saves its state; a rerun resumes it
        for p, _ in running:
            p.terminate()
        for p, name in running:
            p.wait()
            print(f"{name}: stopped (exit {p.returncode}), resumes on a rerun", flush=True)


def plot(path: str, fig: str) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = [json.loads(line) for line in Path(path).read_text().splitlines()]
    best: dict[tuple[str, int], dict] = {}
    for r in rows:  # best lr per (mixer, d_model), judged by mean accuracy over the segments
        key, score = (r["mixer"], r["d_model"]), sum(r["acc"].values())
        if key not in best or score > sum(best[key]["acc"].values()):
            best[key] = r
    lrs = sorted({r["lr"] for r in rows})
    tried = {key: {r["lr"] for r in rows if (r["mixer"], r["d_model"]) == key} for key in best}
    segs = list(rows[0]["acc"])
    widths = sorted({d for _, d in best})
    f, axes = plt.subplots(1, len(segs), figsize=(4 * len(segs), 3.6), sharey=True, squeeze=False)
    axes = axes[0]
    for ax, seg in zip(axes, segs):
        for i, mixer in enumerate(sorted({m for m, _ in best})):
            pts = sorted((d, r["acc"][seg]) for (m, d), r in best.items() if m == mixer)
            marker = "os^vDP"[i % 6]
            ax.plot([d for d, _ in pts], [a for _, a in pts], marker=marker, ms=8 - i, alpha=0.85, color=f"C{i}",
                    label=mixer)  # shrinking markers: overlapping points at 100% stay visible
            part = [(d, a) for d, a in pts if len(tried[mixer, d]) < len(lrs)]
            if part:  # hollow: the best of a partial lr grid, which a full one can only raise
                ax.plot([d for d, _ in part], [a for _, a in part], ls="none", marker=marker, ms=8 - i,
                        mfc="white", mec=f"C{i}")
        T, p = seg.split("x")
        ax.set(title=f"seq {T}, {p} pairs", xlabel="d_model", xscale="log", ylim=(-0.02, 1.02))
        ax.xaxis.set_minor_locator(plt.NullLocator())
        ax.set_xticks(widths, [str(d) for d in widths])
        ax.grid(alpha=0.3)
    axes[0].set_ylabel("MQAR accuracy (best lr)")
    steps = sorted({r["steps"] for r in rows})
    f.legend(*axes[0].get_legend_handles_labels(), loc="lower center", ncol=len({m for m, _ in best}), fontsize=9,
             frameon=False)
    f.suptitle(f"Zoology MQAR: {len(rows)} runs, best per point of the lrs run ({', '.join(f'{x:g}' for x in lrs)}), "
               f"{'/'.join(map(str, steps))} steps of {rows[0]['batch']}"
               + ("; hollow: not every lr run yet" if any(len(t) < len(lrs) for t in tried.values()) else ""),
               fontsize=10)
    f.tight_layout(rect=(0, 0.08, 1, 1))
    f.savefig(fig, dpi=120)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default="zoology_mqar.jsonl")
    ap.add_argument("--mixers", default="mha,linear,gated_deltanet,kda")
    ap.add_argument("--d-models", default="64,128")
    ap.add_argument("--lrs", default="1e-3,3e-3,1e-2,3e-2")
    ap.add_argument("--steps", type=int, default=1500)
    ap.add_argument("--batch", type=int, default=256)
    ap.add_argument("--vocab", type=int, default=8192)
    ap.add_argument("--segments", default=",".join(f"{T}x{p}" for T, p in SEGMENTS),
                    help="SEQ_LENxPAIRS,...: the training mixture, one test set each (default: Zoology's)")
    ap.add_argument("--jobs", type=int, default=16)
    ap.add_argument("--stop-after", type=float, default=None, help="seconds; then stop every cell, saved")
    ap.add_argument("--one", default=None, help="internal: mixer,d_model,lr of one cell")
    ap.add_argument("--ckpt", default=None, help="internal: the cell's training-state file")
    ap.add_argument("--plot", default=None, help="results file to plot instead of training")
    ap.add_argument("--fig", default="zoology_mqar.png")
    a = ap.parse_args()
    try:
        parse_segments(a.segments)
    except ValueError as e:
        ap.error(str(e))  # exit 2
    if a.plot:
        plot(a.plot, a.fig)
    elif a.one:
        m, d, lr = a.one.split(",")
        from eval.calibration.mqar_toy import ToyStopped

        try:
            r = train_one(m, int(d), float(lr), a.steps, a.batch, a.vocab, seed=0, ckpt=a.ckpt,
                          segments=parse_segments(a.segments))
        except ToyStopped as e:
            print(f"{cell_name(m, int(d), float(lr))}: {e}", flush=True)
            sys.exit(143)
        with open(a.out, "a") as f:  # one short line per cell: appends from concurrent cells do not interleave
            f.write(json.dumps(r) + "\n")
    else:
        try:
            run_grid(a)
        except KeyboardInterrupt:
            print("grid stopped; the same command resumes it", flush=True)
            sys.exit(130)


if __name__ == "__main__":
    main()
