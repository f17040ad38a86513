"""Run one study cell in this process and record how it ended in <run_dir>/cell.json.

The local launcher runs `python -m run.cell SPEC.json` per cell; the Slurm launcher has submitit call `run_cell(spec)`
inside the job, so Lightning's SLURMEnvironment sees the job's signals. cell.json is what launchers, relaunches and
the comparison read: {"state": "running" | "done" | "preempted" | "failed", "error", "rc", "attempts", "started",
"wall_s", "commit", "spans": [[started, finished] per attempt], ...}.
"""
from __future__ import annotations

import contextlib
import io
import json
import os
import signal
import socket
import sys
import time
import traceback
from pathlib import Path
from typing import Any

from run.commit import short_commit

STATUS = "cell.json"


def read_status(run_dir: str | Path) -> dict[str, Any]:
    """The cell's recorded status, or {"state": "pending"} when it never started."""
    path = Path(run_dir) / STATUS
    if not path.is_file():
        return {"state": "pending"}
    try:
        return json.loads(path.read_text())
    except (OSError, json.JSONDecodeError):
        return {"state": "pending"}


def write_status(run_dir: str | Path, status: dict[str, Any]) -> None:
    path = Path(run_dir) / STATUS
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(status, indent=1))
    tmp.replace(path)  # a reader never sees half a status


class _ErrorLines(io.TextIOBase):
    """A stderr tee that keeps the `error: ...` lines train.py prints before exiting non-zero."""

    def __init__(self, inner: Any) -> None:
        self.inner, self.error_lines, self._buf = inner, [], ""

    def write(self, s: str) -> int:
        self._buf += s
        *lines, self._buf = self._buf.split("\n")
        self.error_lines += [ln[len("error: "):] for ln in lines if ln.startswith("error: ")]
        return self.inner.write(s)

    def flush(self) -> None:
        self.inner.flush()

    def fileno(self) -> int:
        return self.inner.fileno()

    def isatty(self) -> bool:
        return False


def _signal_name(signum: int) -> str:
    try:
        return signal.Signals(signum).name
    except ValueError:
        return f"signal {signum}"


def _rank() -> int:
    return int(os.environ.get("SLURM_PROCID", os.environ.get("RANK", "0")))


def run_cell(spec: dict[str, Any]) -> dict[str, Any]:
    """spec: {"name", "run_dir", "argv"}. Runs train.py's main on the argv; returns (and on rank 0 writes) the status.

    A failure never raises: it is recorded (the one-line error, or the exception's last line and error.txt with the
    traceback) so the other cells of the study go on."""
    import train

    run_dir = Path(spec["run_dir"])
    before = read_status(run_dir)
    status: dict[str, Any] = {
        "name": spec["name"], "state": "running", "attempts": before.get("attempts", 0) + 1,
        "started": time.strftime("%Y-%m-%d %H:%M:%S"), "host": socket.gethostname(),
        "job_id": os.environ.get("SLURM_ARRAY_JOB_ID", os.environ.get("SLURM_JOB_ID")),
        "wall_s_total": before.get("wall_s_total", 0.0), "commit": short_commit(),
        "spans": before.get("spans", []),
    }
    if os.environ.get("SLURM_ARRAY_TASK_ID"):
        status["job_id"] += f"_{os.environ['SLURM_ARRAY_TASK_ID']}"
    rank0 = _rank() == 0
    if rank0:
        (run_dir / "error.txt").unlink(missing_ok=True)  # an earlier attempt's traceback
        write_status(run_dir, status)
    start = time.perf_counter()
    tee = _ErrorLines(sys.stderr)
    error = None
    try:
        with contextlib.redirect_stderr(tee):
            rc = train.main(list(spec["argv"]))
    except SystemExit as e:
        rc = e.code if isinstance(e.code, int) and e.code else 1
    except Exception as e:  # noqa: BLE001 -- any failure of one cell is recorded, never propagated to the others
        rc = 1
        last = str(e).strip().splitlines()[-1] if str(e).strip() else ""
        error = f"{type(e).__name__}: {last}" if last else type(e).__name__
        if rank0:
            run_dir.mkdir(parents=True, exist_ok=True)
            (run_dir / "error.txt").write_text(traceback.format_exc())
    wall = time.perf_counter() - start
    preempted = rc > 128  # train.py saved at a step boundary on a signal and exited 128 + its number
    if preempted:
        error = (f"stopped by {_signal_name(rc - 128)} after saving a checkpoint; a requeued job or a relaunch "
                 "resumes it")
    elif rc != 0 and error is None:
        error = tee.error_lines[-1] if tee.error_lines else f"train.py exited with code {rc}"
    state = "done" if rc == 0 else "preempted" if preempted else "failed"
    status.update(state=state, rc=rc, error=error, wall_s=round(wall, 1),
                  wall_s_total=round(status["wall_s_total"] + wall, 1),
                  finished=time.strftime("%Y-%m-%d %H:%M:%S"))
    status["spans"] = status["spans"] + [[status["started"], status["finished"]]]
    if rank0:
        write_status(run_dir, status)
    return status


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if len(argv) != 1:
        print("usage: python -m run.cell SPEC.json   (written by the local launcher)", file=sys.stderr)
        return 2
    status = run_cell(json.loads(Path(argv[0]).read_text()))
    return int(status["rc"])


if __name__ == "__main__":
    sys.exit(main())
