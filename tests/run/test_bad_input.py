"""Bad and unusual inputs to `train.py` and `python -m eval`, as a new user would type them, one row each.

Every row must be handled cleanly: either a one-line `error: ...` naming the problem, exit code 2, no traceback and
nothing changed on disk; or accepted and working (the launch passes every check and its model trains on a batch
of its data with a finite loss). The rows cover config keys and values, ratios, run names and directories,
checkpoints, data and the eval CLI; the list only grows.
"""
from __future__ import annotations

import os
from pathlib import Path

import pytest
import torch

ROOT = Path(__file__).resolve().parents[2]
QUICK = ["recipe=kda_3to1", "size=tiny", "trainer.max_steps=2", "eval.at_end=false", "trainer.logger=csv",
         "trainer.progress_bar=false"]


# --- things some rows need on disk ---------------------------------------------------------------------------------

def _checkpoint(path: Path, recipe: str = "kda_3to1", size: str = "tiny") -> Path:
    """A train.py-format checkpoint of a fresh model (enough for every check before training)."""
    from run.build import build_module
    from run.load import load_run_config

    cfg = load_run_config([f"recipe={recipe}", f"size={size}"])
    module = build_module(cfg, 768)
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save({"state_dict": module.state_dict(), "hyper_parameters": dict(module.hparams), "global_step": 0,
                "epoch": 0}, path)
    return path


def _run_with_ckpt(tmp: Path, name: str = "done") -> Path:
    run = tmp / "runs" / name
    ckpt = _checkpoint(run / "checkpoints" / "last.ckpt")
    (run / "config.yaml").write_text("recipe: kda_3to1\nsize: tiny\n")
    (run / "metrics.csv").write_text("step,train/loss\n0,6.7\n")
    return ckpt


def _truncated(tmp: Path) -> None:
    ckpt = _run_with_ckpt(tmp)
    data = ckpt.read_bytes()
    ckpt.write_bytes(data[: len(data) // 2])


def _garbage(tmp: Path) -> None:
    (tmp / "garbage.ckpt").write_bytes(os.urandom(4096))


def _empty(tmp: Path) -> None:
    (tmp / "empty.ckpt").write_bytes(b"")


def _not_ckpt(tmp: Path) -> None:
    torch.save({"weights": torch.zeros(3)}, tmp / "other.ckpt")


def _taken(tmp: Path) -> None:
    run = tmp / "runs" / "taken"
    run.mkdir(parents=True)
    (run / "config.yaml").write_text("recipe: kda_3to1\n")
    (run / "metrics.csv").write_text("step,train/loss\n0,6.7\n")


def _busy(tmp: Path) -> None:
    from run.run_dir import claim

    claim(tmp / "runs" / "busy", resuming=False)  # held by this process until the row's check releases it


def _a_file(tmp: Path) -> None:
    (tmp / "afile").write_text("not a folder")


def _weird_ext(tmp: Path) -> None:
    (tmp / "corpus.xyz").write_text("hello")


E, OK = "error", "ok"
T = "{tmp}"
# (id, argv for train.py (after QUICK) or for `python -m eval` when the id starts with "eval", setup, expect, text)
ROWS = [
    # config keys, values and syntax
    ("recipe-typo", ["recipe=kda_3t1"], None, E, "kda_3to1"),
    ("size-typo", ["size=tinny"], None, E, "'tiny'"),
    ("data-preset-typo", ["data=synthetc"], None, E, "'synthetic'"),
    ("key-typo", ["optim.lrr=1e-3"], None, E, "optim.lr"),
    ("nested-key-typo", ["model.linear.varient=kda"], None, E, "model.linear.variant"),
    ("group-typo", ["modle.d_model=3"], None, E, "model.d_model"),
    ("not-key-value", ["lonely"], None, E, "not key=value"),
    ("empty-key", ["=3"], None, E, "not key=value"),
    ("int-not-a-number", ["trainer.max_steps=many"], None, E, "trainer.max_steps"),
    ("int-given-float", ["model.d_model=1.5"], None, E, "model.d_model"),
    ("variant-typo", ["model.linear.variant=kdaa"], None, E, "'kda'"),
    ("attention-typo", ["model.attention.type=mlaa"], None, E, "'mla'"),
    ("schedule-typo", ["optim.schedule=cosin"], None, E, "'cosine'"),
    ("mixture-task-typo", ["data.mixture.mqr=1.0"], None, E, "'mqar'"),
    ("logger-unknown", ["trainer.logger=tensorboard"], None, E, "trainer.logger"),
    ("precision-unknown", ["trainer.precision=fp8"], None, E, "trainer.precision"),
    ("backend-unknown", ["kernels.backend=cuda"], None, E, "kernels.backend"),
    ("data-name-unknown", ["data.name=bogus"], None, E, "data.name"),
    ("loss-on-unknown", ["data.loss_on=some"], None, E, "data.loss_on"),
    ("probe-unknown", ["eval.probes=[mqarr]"], None, E, "mqarr"),
    ("train-eval-examples-zero", ["eval.examples=0"], None, E, "eval.examples"),
    ("train-eval-precision-unknown", ["eval.precision=fp3"], None, E, "eval.precision"),
    ("help", ["--help"], None, OK, ""),
    # ratios and layouts: N:M always means the ratio (YAML 1.1 would read it as a base-60 number)
    ("ratio-3:2", ["model.ratio=3:2"], None, E, "model.ratio='3:2'"),
    ("ratio-negative", ["model.ratio=-1:1"], None, E, "model.ratio='-1:1'"),
    ("ratio-0:0", ["model.ratio=0:0"], None, E, "model.ratio='0:0'"),
    ("ratio-word", ["model.ratio=abc"], None, E, "model.ratio='abc'"),
    ("ratio-n-layers", ["model.n_layers=6"], None, E, "not a multiple"),
    ("pattern-bad-letter", ["model.pattern=LLXA"], None, E, "model.pattern"),
    ("ratio-7:1", ["model.ratio=7:1"], None, OK, ""),
    ("ratio-1:0", ["model.ratio=1:0"], None, OK, ""),
    ("ratio-1:1", ["model.ratio=1:1"], None, OK, ""),
    ("ratio-0:1", ["recipe=full_attention", "model.ratio=0:1"], None, OK, ""),
    ("ratio-quoted", ["model.ratio='7:1'"], None, OK, ""),
    ("pattern-list", ["model.pattern=[L,A,L,A,L,A,L,A]"], None, OK, ""),
    ("recipe-7to1", ["recipe=lightning_7to1"], None, OK, ""),
    # numbers out of range
    ("lr-zero", ["optim.lr=0"], None, E, "optim.lr"),
    ("lr-negative", ["optim.lr=-1e-3"], None, E, "optim.lr"),
    ("d-model-zero", ["model.d_model=0"], None, E, "model.d_model"),
    ("batch-zero", ["data.batch_size=0"], None, E, "data.batch_size"),
    ("seq-zero", ["data.seq_len=0"], None, E, "data.seq_len"),
    ("max-steps-zero", ["trainer.max_steps=0"], None, E, "trainer.max_steps"),
    ("vocab-negative", ["model.vocab_size=-5"], None, E, "model.vocab_size"),
    ("val-every-zero", ["trainer.val_every=0"], None, E, "trainer.val_every"),
    ("val-every-negative", ["trainer.val_every=-5"], None, E, "trainer.val_every"),
    ("ckpt-every-zero", ["trainer.ckpt_every=0"], None, E, "trainer.ckpt_every"),
    ("log-every-zero", ["trainer.log_every=0"], None, E, "trainer.log_every"),
    ("max-nonfinite-zero", ["trainer.max_nonfinite=0"], None, E, "trainer.max_nonfinite"),
    ("warmup-negative", ["optim.warmup_steps=-1"], None, E, "optim.warmup_steps"),
    ("grad-clip-negative", ["optim.grad_clip=-1"], None, E, "optim.grad_clip"),
    ("weight-decay-negative", ["optim.weight_decay=-0.1"], None, E, "optim.weight_decay"),
    ("betas-one", ["optim.betas=[0.9]"], None, E, "optim.betas"),
    ("betas-above-one", ["optim.betas=[0.9,1.5]"], None, E, "optim.betas"),
    ("min-lr-ratio-two", ["optim.min_lr_ratio=2"], None, E, "optim.min_lr_ratio"),
    ("chunk-size-7", ["model.linear.chunk_size=7"], None, E, "model.linear.chunk_size"),
    ("chunk-size-zero", ["model.linear.chunk_size=0"], None, E, "model.linear.chunk_size"),
    ("val-batches-negative", ["data.val_batches=-1"], None, E, "data.val_batches"),
    ("workers-negative", ["data.num_workers=-1"], None, E, "data.num_workers"),
    ("batch-size-one", ["data.batch_size=1"], None, OK, ""),
    ("batch-size-one-answers", ["data.batch_size=1", "data.loss_on=answers"], None, OK, ""),
    ("batch-size-one-unpacked", ["data.batch_size=1", "data.pack_boundaries=false"], None, OK, ""),
    ("seq-len-one", ["data.seq_len=1"], None, OK, ""),
    ("grad-clip-off", ["optim.grad_clip=0"], None, OK, ""),
    ("warmup-off", ["optim.warmup_steps=0"], None, OK, ""),
    ("schedule-wsd", ["optim.schedule=wsd"], None, OK, ""),
    # the machine
    ("triton-on-cpu", ["kernels.backend=triton"], None, E, "kernels.backend=triton"),
    ("strategy-unknown", ["trainer.strategy=bogus"], None, E, "trainer.strategy"),
    ("accelerator-unknown", ["trainer.accelerator=tpuu"], None, E, "trainer.accelerator"),
    ("devices-zero", ["trainer.devices=0"], None, E, "trainer.devices"),
    ("devices-word", ["trainer.devices=many"], None, E, "trainer.devices"),
    ("devices-one", ["trainer.devices=1"], None, OK, ""),
    # run names and directories
    ("name-parent", ["name=../x"], None, E, "name='../x'"),
    ("name-nested", ["name=a/b"], None, E, "name='a/b'"),
    ("name-hidden", ["name=.hidden"], None, E, "name='.hidden'"),
    ("name-absolute", ["name=/tmp/x"], None, E, "name='/tmp/x'"),
    ("name-plain", ["name=my-run_1"], None, OK, ""),
    ("name-taken", ["name=taken"], _taken, E, "already holds a run"),
    ("name-taken-resume-auto", ["name=taken", "resume=auto"], _taken, OK, ""),
    ("name-in-use", ["name=busy", "resume=auto"], _busy, E, "in use by another process"),
    ("out-dir-is-file", [f"out_dir={T}/afile"], _a_file, E, "is a file"),
    ("out-dir-below-file", [f"out_dir={T}/afile/runs"], _a_file, E, "is a file"),
    ("out-dir-unwritable", ["out_dir=/proc/hybrid-runs"], None, E, "not writable"),
    ("resume-unknown", ["resume=sometimes"], None, E, "resume"),
    ("resume-and-ckpt", ["resume=auto", f"ckpt_path={T}/runs/done/checkpoints/last.ckpt"], _run_with_ckpt, E,
     "either ckpt_path"),
    ("resume-auto-fresh", ["name=fresh", "resume=auto"], None, OK, ""),
    # checkpoints
    ("ckpt-missing", [f"ckpt_path={T}/missing.ckpt"], None, E, "does not exist"),
    ("ckpt-truncated", [f"ckpt_path={T}/runs/done/checkpoints/last.ckpt", "name=done"], _truncated, E,
     "not a readable checkpoint"),
    ("ckpt-garbage", [f"ckpt_path={T}/garbage.ckpt"], _garbage, E, "not a readable checkpoint"),
    ("ckpt-empty", [f"ckpt_path={T}/empty.ckpt"], _empty, E, "empty"),
    ("ckpt-not-lightning", [f"ckpt_path={T}/other.ckpt"], _not_ckpt, E, "not a train.py Lightning checkpoint"),
    ("ckpt-other-recipe", ["recipe=full_attention", f"ckpt_path={T}/runs/done/checkpoints/last.ckpt", "name=done"],
     _run_with_ckpt, E, "kda_3to1 (size tiny) checkpoint"),
    ("ckpt-other-size", ["size=small", f"ckpt_path={T}/runs/done/checkpoints/last.ckpt", "name=done"],
     _run_with_ckpt, E, "model.d_model=64"),
    ("ckpt-resume", [f"ckpt_path={T}/runs/done/checkpoints/last.ckpt", "name=done"], _run_with_ckpt, OK, ""),
    ("ckpt-resume-auto", ["name=done", "resume=auto"], _run_with_ckpt, OK, ""),
    # data
    ("files-without-paths", ["data=files"], None, E, "data.paths"),
    ("files-missing", ["data=files", f"data.paths=[{T}/nope.jsonl]"], None, E, "nope.jsonl"),
    ("files-unknown-extension", ["data=files", f"data.paths=[{T}/corpus.xyz]"], _weird_ext, E, ".xyz"),
    # python -m eval
    ("eval-help", ["--help"], None, OK, ""),
    ("eval-no-ckpt", ["examples=4"], None, E, "ckpt=PATH is required"),
    ("eval-ckpt-missing", [f"ckpt={T}/missing.ckpt"], None, E, "does not exist"),
    ("eval-key-typo", [f"ckpt={T}/runs/done/checkpoints/last.ckpt", "exampels=8"], _run_with_ckpt, E,
     "'examples'"),
    ("eval-not-key-value", ["lonely"], None, E, "not key=value"),
    ("eval-ckpt-garbage", [f"ckpt={T}/garbage.ckpt"], _garbage, E, "not a readable checkpoint"),
    ("eval-ckpt-truncated", [f"ckpt={T}/runs/done/checkpoints/last.ckpt"], _truncated, E, "readable checkpoint"),
    ("eval-ckpt-empty", [f"ckpt={T}/empty.ckpt"], _empty, E, "checkpoint"),
    ("eval-ckpt-not-lightning", [f"ckpt={T}/other.ckpt"], _not_ckpt, E, "not a train.py Lightning checkpoint"),
    ("eval-cuda-missing", [f"ckpt={T}/runs/done/checkpoints/last.ckpt", "device=cuda"], _run_with_ckpt, E, "CUDA"),
    ("eval-probe-unknown", [f"ckpt={T}/runs/done/checkpoints/last.ckpt", "probes=[mqarr]"], _run_with_ckpt, E,
     "mqarr"),
]


def _snapshot(folder: Path) -> dict[str, tuple[int, int]]:
    return {str(p.relative_to(folder)): (p.stat().st_size, p.stat().st_mtime_ns)
            for p in sorted(folder.rglob("*")) if p.is_file() or p.is_dir()}


def _fill(argv: list[str], tmp: Path) -> list[str]:
    return [a.replace(T, str(tmp)) for a in argv]


def _works(argv: list[str]) -> None:
    """Accepted and working: every pre-flight check passes, and the model trains on a batch of its data."""
    from data.build import build_datamodule
    from run.build import build_module
    from run.preflight import prepare

    cfg = prepare(argv).cfg
    dm = build_datamodule(cfg.data)
    module = build_module(cfg, dm.vocab_size)
    batch = dm.consume(next(iter(dm.train_dataloader())))
    loss = module.model.loss(batch["input_ids"], batch["labels"], batch.get("cu_seqlens"))
    loss.backward()
    assert torch.isfinite(loss), loss


def _row_is_clean(row, tmp: Path, capsys) -> None:
    rid, argv, setup, expect, text = row
    if setup is not None:
        setup(tmp)
    is_eval = rid.startswith("eval")
    argv = _fill(argv, tmp) if is_eval else [*QUICK, f"out_dir={tmp / 'runs'}", *_fill(argv, tmp)]
    if expect == OK and "--help" not in argv:
        _works(argv)
        return
    before = _snapshot(tmp)
    capsys.readouterr()
    if is_eval:
        from eval.cli import main
    else:
        from train import main
    rc = main(argv)
    out, err = capsys.readouterr()
    if expect == OK:
        assert rc == 0 and "usage:" in out
        return
    lines = [ln for ln in err.splitlines() if ln.strip()]
    assert rc == 2, (rc, err[-2000:])
    assert len(lines) == 1 and lines[0].startswith("error: "), err[-2000:]
    assert text in lines[0], lines[0]
    assert _snapshot(tmp) == before, "an error changed files on disk"
    assert not (tmp.parent / "x").exists()  # name=../x


@pytest.mark.parametrize("row", ROWS, ids=[r[0] for r in ROWS])
def test_bad_input_is_handled_cleanly(row, tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.chdir(tmp_path)
    from run import run_dir

    try:
        _row_is_clean(row, tmp_path, capsys)
    finally:
        run_dir.release(tmp_path / "runs" / "busy")


def test_the_table_is_large():
    assert len(ROWS) >= 78
    assert len({r[0] for r in ROWS}) == len(ROWS)
