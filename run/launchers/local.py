"""Run a study's cells on this machine: each cell a `python -m run.cell` process, `jobs_per_gpu` of them per visible
GPU (CUDA_VISIBLE_DEVICES pins each to one), or `cpu_jobs` at a time on a machine without one. A live table shows
every cell's state, step and loss (rich), or one line per change when stdout is not a terminal."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

from run.cell import read_status
from run.launchers.config import LauncherConfig
from run.study import Cell

ROOT = Path(__file__).resolve().parents[2]


def _slots(cfg: LauncherConfig) -> list[str | None]:
    """One entry per cell that may run at once: the GPU index it is pinned to, or None on the CPU."""
    import torch

    visible = os.environ.get("CUDA_VISIBLE_DEVICES")
    if torch.cuda.is_available():
        ids = [d for d in visible.split(",") if d] if visible else [str(i) for i in range(torch.cuda.device_count())]
        if ids:
            return [gpu for gpu in ids for _ in range(cfg.jobs_per_gpu)]
    return [None] * cfg.cpu_jobs


def _progress(cell: Cell) -> dict[str, Any]:
    try:
        return json.loads((cell.run_dir / "progress.json").read_text())
    except (OSError, json.JSONDecodeError):
        return {}


def _start(cell: Cell, gpu: str | None, threads: int | None = None) -> subprocess.Popen:
    cell.run_dir.mkdir(parents=True, exist_ok=True)
    spec = cell.run_dir / "cell_spec.json"
    spec.write_text(json.dumps({"name": cell.name, "run_dir": str(cell.run_dir), "argv": cell.argv}, indent=1))
    env = dict(os.environ)
    if gpu is not None:
        env["CUDA_VISIBLE_DEVICES"] = gpu
    elif threads:  # CPU cells side by side: split the cores instead of each taking them all
        env.setdefault("OMP_NUM_THREADS", str(threads))
    log = open(cell.run_dir / "train.log", "a")  # noqa: SIM115 -- the child owns it; closed when it is reaped
    proc = subprocess.Popen([sys.executable, "-m", "run.cell", str(spec)], cwd=ROOT, env=env, stdout=log,
                            stderr=subprocess.STDOUT)
    proc.log = log  # type: ignore[attr-defined]
    return proc


def _last_line(cell: Cell) -> str:
    try:
        lines = [ln for ln in (cell.run_dir / "train.log").read_text(errors="replace").splitlines() if ln.strip()]
    except OSError:
        lines = []
    return lines[-1].strip() if lines else "no output (see train.log)"


class _View:
    """The live table (rich) or plain lines: cell, state, where it runs, step / budget, loss, elapsed."""

    def __init__(self, cells: list[Cell], live: bool) -> None:
        self.cells, self.live, self.rows = cells, live, {c.name: ["pending", "", None] for c in cells}
        self._live = None
        if live:
            from rich.live import Live

            self._live = Live(self._table(), refresh_per_second=2)
            self._live.start()

    def _table(self):
        from rich.table import Table

        table = Table(title="study cells")
        for col in ("cell", "state", "device", "step", "loss", "elapsed"):
            table.add_column(col)
        for cell in self.cells:
            state, device, started = self.rows[cell.name]
            p = _progress(cell) if state == "running" else {}
            step = f"{p['step']}/{p['max_steps']}" if p else ""
            loss = f"{p['loss']:.3f}" if p.get("loss") is not None else ""
            elapsed = f"{time.time() - started:.0f}s" if started and state == "running" else ""
            color = {"done": "green", "failed": "red", "running": "yellow"}.get(state.split()[0], "white")
            table.add_row(cell.name, f"[{color}]{state}[/]", device, step, loss, elapsed)
        return table

    def set(self, cell: Cell, state: str, device: str = "") -> None:
        started = time.time() if state == "running" else self.rows[cell.name][2]
        self.rows[cell.name] = [state, device, started]
        if not self.live:
            print(f"[{time.strftime('%H:%M:%S')}] {cell.name}: {state}" + (f" ({device})" if device else ""),
                  flush=True)

    def tick(self) -> None:
        if self._live is not None:
            self._live.update(self._table())

    def close(self) -> None:
        if self._live is not None:
            self._live.update(self._table())
            self._live.stop()


STOP_WAIT_S = 600
"""How long a stopped launcher waits for its cells to save at their next step boundary before killing them."""


class StudyStopped(KeyboardInterrupt):
    """The launcher got SIGTERM (a scheduler, `timeout`, `kill`): it stops like Ctrl-C, exiting 128 + signum."""

    def __init__(self, signum: int) -> None:
        super().__init__(signum)
        self.signum = signum


def _raise_stopped(signum: int, frame) -> None:
    raise StudyStopped(signum)


def _stop(running: list[tuple[Cell, subprocess.Popen]]) -> None:
    """SIGTERM every running cell (each saves at its next step boundary and records itself preempted), then wait
    for them, so nothing of the study runs on after the launcher."""
    if not running:
        return
    print(f"stopping {len(running)} running cells: each saves at its next step boundary", flush=True)
    for _, proc in running:
        proc.terminate()
    deadline = time.time() + STOP_WAIT_S
    for cell, proc in running:
        try:
            proc.wait(timeout=max(1.0, deadline - time.time()))
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
            print(f"{cell.name}: killed after {STOP_WAIT_S} s without saving", flush=True)


def launch_local(cells: list[Cell], cfg: LauncherConfig) -> dict[str, dict[str, Any]]:
    """Run every unfinished cell (finished ones are skipped); returns cell name -> its cell.json status."""
    todo = [c for c in cells if read_status(c.run_dir).get("state") != "done"]
    slots = _slots(cfg)
    live = sys.stdout.isatty() if cfg.live is None else cfg.live
    view = _View(cells, live)
    for c in cells:
        if c not in todo:
            view.set(c, "done (earlier)")
    free = list(range(len(slots)))
    running: dict[int, tuple[Cell, subprocess.Popen]] = {}
    main = threading.current_thread() is threading.main_thread()
    previous = signal.signal(signal.SIGTERM, _raise_stopped) if main else None
    try:
        while todo or running:
            while todo and free:
                slot = free.pop(0)
                cell = todo.pop(0)
                threads = max(1, (os.cpu_count() or 1) // len(slots)) if len(slots) > 1 else None
                running[slot] = (cell, _start(cell, slots[slot], threads))
                view.set(cell, "running", f"cuda:{slots[slot]}" if slots[slot] is not None else "cpu")
            for slot, (cell, proc) in list(running.items()):
                if proc.poll() is None:
                    continue
                proc.log.close()  # type: ignore[attr-defined]
                del running[slot]
                free.append(slot)
                status = read_status(cell.run_dir)
                if status.get("state") in ("running", "pending"):  # died before it could record an end
                    from run.cell import write_status

                    status.update(state="failed", rc=proc.returncode,
                                  error=f"the cell's process died with code {proc.returncode}: {_last_line(cell)}")
                    write_status(cell.run_dir, status)
                view.set(cell, status.get("state", "failed") + (f": {status['error']}" if status.get("error")
                                                                 else ""))
            view.tick()
            time.sleep(min(cfg.poll_s, 0.5))
    finally:  # interrupted (Ctrl-C, SIGTERM): stop our children, saved; a relaunch resumes them
        if main:
            signal.signal(signal.SIGTERM, previous)
        _stop(list(running.values()))
        for _, proc in running.values():
            proc.log.close()  # type: ignore[attr-defined]
        view.close()
    return {c.name: read_status(c.run_dir) for c in cells}
