"""Data pipeline throughput: tokens/s of the text stream alone (read, parse, tokenize, pack, batch), or of the
synthetic task stream (generate, encode, pack, batch), by worker count.

    python benchmarks/data.py [--stream text|synthetic] [--workers 1 2 4] [--seconds 10] [--paths my/*.jsonl]
                              [--record [DIR]]

Without --paths it writes a seeded corpus of Zipf-distributed words (8 jsonl files, so every worker count shards
whole files) to a temporary folder and trains the tokenizer on it (cached there). Each worker count then runs the
training DataLoader of the text module exactly as training does (cu_seqlens on), discards the first batches (worker
start-up), and counts tokens over --seconds. --stream synthetic runs the synthetic module at its default mixture
instead (workers 0: generated in the process that reads the loader, as a training process with data.num_workers=0).
--record writes the table as a dated record (topic data-pipeline, or data-synthetic).
The pipeline keeps up with training when its tokens/s exceed the training tokens/s of the same device count.
"""
from __future__ import annotations

import argparse
import json
import os
import random
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from common import record_arg, write_record  # noqa: E402


def write_corpus(folder: Path, n_docs: int = 4000, n_files: int = 8, seed: int = 0) -> list[str]:
    """Seeded English-like text: words of 1-12 letters drawn from a Zipf law, in sentences and paragraphs."""
    rng = random.Random(seed)
    letters = "etaoinshrdlcumwfgypbvkjxqz"
    vocab = sorted({"".join(rng.choices(letters, weights=range(26, 0, -1), k=rng.randint(1, 12)))
                    for _ in range(30000)})
    weights = [1.0 / (i + 1) for i in range(len(vocab))]
    rng.shuffle(vocab)
    folder.mkdir(parents=True, exist_ok=True)
    paths = [folder / f"part{i:02d}.jsonl" for i in range(n_files)]
    handles = [p.open("w") for p in paths]
    for d in range(n_docs):
        words = rng.choices(vocab, weights, k=rng.randint(100, 1500))
        sentences, i = [], 0
        while i < len(words):
            n = rng.randint(5, 25)
            sentences.append(" ".join(words[i : i + n]).capitalize() + rng.choice([".", ".", ".", "?", "!"]))
            i += n
        text = "\n\n".join(" ".join(sentences[j : j + 6]) for j in range(0, len(sentences), 6))
        handles[d % n_files].write(json.dumps({"text": text, "id": d}) + "\n")
    for h in handles:
        h.close()
    return [str(p) for p in paths]


def measure(cfg, seconds: float, warmup_batches: int) -> dict:
    """Tokens/s of the training DataLoader of the data module built from `cfg`."""
    from data.build import build_datamodule

    dm = build_datamodule(cfg)
    start = time.perf_counter()
    it = iter(dm.train_dataloader())
    for _ in range(warmup_batches):
        dm.consume(next(it))
    first = time.perf_counter() - start
    tokens, batches, t0 = 0, 0, time.perf_counter()
    while time.perf_counter() - t0 < seconds:
        batch = dm.consume(next(it))
        tokens += batch["input_ids"].numel()
        batches += 1
    elapsed = time.perf_counter() - t0
    del it
    return {"workers": cfg.num_workers, "tokens_per_s": tokens / elapsed, "batches": batches, "seconds": elapsed,
            "startup_s": first}


def training_rates(path: Path | None = None) -> str:
    """'recipe tokens/s, ...' of the small-size rows of the first 'Training throughput' section, with its device."""
    path = path or Path(__file__).resolve().parent.parent / "BENCHMARKS.md"
    if not path.exists():
        return ""
    lines = path.read_text().splitlines()
    start = next((i for i, line in enumerate(lines) if line.startswith("## Training throughput")), None)
    if start is None:
        return ""
    rates, device = [], ""
    for line in lines[start + 1 :]:
        if line.startswith("## "):
            break
        if line.strip() and not line.startswith("|") and not device:  # 'NVIDIA H100 80GB HBM3, 1 GPU · python ...'
            device = line.split(",")[0].split(" · ")[0]
        cells = [c.strip() for c in line.strip("|").split("|")]
        if len(cells) > 3 and cells[1] == "small" and cells[3].replace(",", "").isdigit():
            rates.append(f"{cells[0]} {cells[3]}")
    return f"{', '.join(rates)} tokens/s on one {device}" if rates else ""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--stream", choices=["text", "synthetic"], default="text")
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2, 4])
    parser.add_argument("--seconds", type=float, default=10.0, help="measured seconds per worker count")
    parser.add_argument("--paths", nargs="*", default=None, help="your own files (default: a generated corpus)")
    parser.add_argument("--seq-len", type=int, default=512)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--vocab-size", type=int, default=32768)
    parser.add_argument("--docs", type=int, default=4000, help="documents of the generated corpus")
    record_arg(parser)
    args = parser.parse_args()
    if args.stream == "synthetic":
        return synthetic(args)

    import datasets
    import pyarrow
    import tokenizers

    from data.config import DataConfig

    tmp = Path(tempfile.mkdtemp(prefix="data-bench-"))
    paths = args.paths or write_corpus(tmp / "corpus", n_docs=args.docs)
    corpus = "your files" if args.paths else f"generated Zipf-word corpus, {args.docs} docs in 8 jsonl files"
    base = {"name": "text", "paths": paths, "seq_len": args.seq_len, "batch_size": args.batch_size,
            "vocab_size": args.vocab_size, "tokenizer_docs": 1000, "cache_dir": str(tmp / "tok"), "val_batches": 0}
    rows = []
    for workers in args.workers:
        result = measure(DataConfig(**base, num_workers=workers), args.seconds, warmup_batches=2 * max(1, workers))
        rows.append(result)
        print(f"workers {workers}: {result['tokens_per_s']:,.0f} tokens/s ({result['batches']} batches in "
              f"{result['seconds']:.1f} s; first batches after {result['startup_s']:.1f} s)", flush=True)

    table = "| workers | tokens/s | batches | seconds |\n|---|---|---|---|\n" + "\n".join(
        f"| {r['workers']} | {r['tokens_per_s']:,.0f} | {r['batches']} | {r['seconds']:.1f} |" for r in rows)
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    notes = (f"datasets {datasets.__version__}, tokenizers {tokenizers.__version__}, pyarrow {pyarrow.__version__}; "
             f"{corpus}; trained {args.vocab_size}-id BPE; seq_len {args.seq_len}, batch {args.batch_size}, "
             f"cu_seqlens on; {args.seconds:.0f} s measured per row after start-up; load average during the run "
             f"{load}.")
    trained = training_rates()
    if trained:
        notes += (f" For comparison, training the default size (small) runs at {trained} (section 'Training "
                  "throughput'): the pipeline keeps up when a row here exceeds that per GPU.")
    print(table)
    if args.record:
        write_record("data-pipeline", "Data pipeline, text stream alone", table, notes, args.record)


def synthetic(args: argparse.Namespace) -> None:
    """The synthetic task stream (default mixture, packed with document boundaries) by worker count."""
    from data.config import DataConfig

    base = {"seq_len": args.seq_len, "batch_size": args.batch_size, "val_batches": 0}
    rows = [measure(DataConfig(**base, num_workers=w), args.seconds, warmup_batches=2 * max(1, w))
            for w in args.workers]
    table = "| workers | tokens/s | batches | seconds |\n|---|---|---|---|\n" + "\n".join(
        f"| {r['workers']} | {r['tokens_per_s']:,.0f} | {r['batches']} | {r['seconds']:.1f} |" for r in rows)
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    notes = (f"Synthetic task stream, default mixture, seq_len {args.seq_len}, batch {args.batch_size}; workers 0 "
             f"generates in the reading process; {args.seconds:.0f} s measured per row after start-up; load average "
             f"during the run {load}.")
    print(table)
    if args.record:
        write_record("data-synthetic", "Data pipeline, synthetic task stream", table, notes, args.record)


if __name__ == "__main__":
    main()
