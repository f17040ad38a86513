"""Where does a train.py step read device values on the host? Counts the calls that synchronise with a GPU when the
tensor lives there (.item(), bool(t), float(t), int(t), .tolist(), .cpu(), .numpy()) per training step, by call site.

    python benchmarks/host_syncs.py [--recipe kda_3to1] [--size tiny] [--steps 12] [--log-every 4] [key=value ...]

Runs `train.main` in this process on the CPU (the count needs no GPU: a call site is a call site), with the progress
bar on as a user runs it; the first step (start-up) is not counted. Every tensor counts, so a site that only touches
host tensors (data on its way to the device) shows too: read the sites, not just the total. Steps on which Lightning
writes metrics (every trainer.log_every) are counted apart from the others: a per-step sync costs a whole step's
CPU-GPU overlap, a log-step one costs it once per log_every steps.
"""
from __future__ import annotations

import argparse
import collections
import contextlib
import io
import sys
import tempfile
import traceback
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from common import ROOT  # noqa: E402
from train_throughput import train_argv  # noqa: E402

sys.path.insert(0, str(ROOT))  # train_throughput put benchmarks/ first, where kernels.py would shadow the package

SYNCING = ("item", "__bool__", "__float__", "__int__", "tolist", "cpu", "numpy")


def call_site() -> str:
    """The innermost frame outside torch: our file:line, or the library's."""
    for frame in reversed(traceback.extract_stack()[:-2]):
        path = Path(frame.filename)
        if "torch" in path.parts and "lightning" not in path.parts:
            continue
        try:
            where = path.relative_to(ROOT)
        except ValueError:
            parts = path.parts
            where = Path(*parts[parts.index("site-packages") + 1:]) if "site-packages" in parts else path
        return f"{where}:{frame.lineno}"
    return "?"


class SyncCounter:
    """Counts syncing Tensor calls while `active`, per step and call site."""

    def __init__(self) -> None:
        self.active = False
        self.steps: list[collections.Counter] = []

    def install(self) -> None:
        import torch

        self.real = {name: getattr(torch.Tensor, name) for name in SYNCING}
        for name, real in self.real.items():

            def counted(t, *args, _real=real, _name=name, **kwargs):
                if self.active and self.steps:
                    self.active = False  # the site lookup itself must not count
                    try:
                        self.steps[-1][f"{_name:9s} {call_site()}"] += 1
                    finally:
                        self.active = True
                return _real(t, *args, **kwargs)

            setattr(torch.Tensor, name, counted)

    def uninstall(self) -> None:
        import torch

        for name, real in self.real.items():
            setattr(torch.Tensor, name, real)

    def callback(self):
        import lightning as L

        counter = self

        class Window(L.Callback):
            def on_train_batch_start(self, trainer, pl_module, batch, batch_idx) -> None:
                if trainer.global_step >= 1:
                    counter.steps.append(collections.Counter())
                    counter.active = True

            def on_train_end(self, trainer, pl_module) -> None:
                counter.active = False

        return Window()


def count_syncs(recipe: str, size: str, steps: int, log_every: int, overrides: list[str]) -> list[collections.Counter]:
    """Run train.main for `steps` steps; return each counted step's syncing calls by call site (steps 1, 2, ...:
    step 0, start-up, is not counted)."""
    import run.build
    import train

    counter = SyncCounter()
    counter.install()
    build = run.build.build_callbacks
    run.build.build_callbacks = lambda cfg, rd: [*build(cfg, rd), counter.callback()]
    try:
        with tempfile.TemporaryDirectory() as tmp:
            argv = train_argv(recipe, size, steps, Path(tmp), [
                "trainer.accelerator=cpu", "trainer.progress_bar=true", f"trainer.log_every={log_every}",
                f"trainer.val_every={steps + 1}", "data.num_workers=0", *overrides])
            with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
                code = train.main(argv)
    finally:
        run.build.build_callbacks = build
        counter.uninstall()
    if code != 0:
        raise RuntimeError(f"train.py exited {code}")
    return counter.steps


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--recipe", default="kda_3to1")
    ap.add_argument("--size", default="tiny")
    ap.add_argument("--steps", type=int, default=12)
    ap.add_argument("--log-every", type=int, default=4)
    ap.add_argument("overrides", nargs="*", help="key=value, as train.py takes them")
    a = ap.parse_args()
    if a.steps < 2 or a.log_every < 1:
        ap.error(f"--steps must be >= 2 and --log-every >= 1, got {a.steps} and {a.log_every}")
    try:
        steps = count_syncs(a.recipe, a.size, a.steps, a.log_every, a.overrides)
    except RuntimeError as e:
        sys.exit(str(e))
    # step n (0-based, counted from 1) is a log step when Lightning writes its metrics: (n + 1) % log_every == 0
    kinds = {"log steps": collections.Counter(), "other steps": collections.Counter()}
    n = {"log steps": 0, "other steps": 0}
    for i, c in enumerate(steps, start=1):
        kind = "log steps" if (i + 1) % a.log_every == 0 else "other steps"
        kinds[kind].update(c)
        n[kind] += 1
    print(f"{a.recipe} size={a.size}: {sum(n.values())} steps counted, log_every={a.log_every}")
    for kind, c in kinds.items():
        per = sum(c.values()) / max(1, n[kind])
        print(f"\n{kind} ({n[kind]}): {per:.1f} syncing calls per step")
        for site, count in c.most_common():
            print(f"  {count / max(1, n[kind]):6.1f}  {site}")


if __name__ == "__main__":
    main()
