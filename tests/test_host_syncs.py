"""benchmarks/host_syncs.py on a packed kda_3to1 tiny run: a training step reads nothing back from the device but
the previous step's deferred verdict, so the count cannot silently grow (cu_seqlens' host copy travels with the batch).
"""
from __future__ import annotations

import json
import subprocess
import sys

from tests.benchmark_script import BENCHMARKS

COUNT = """
import json, sys
sys.path.insert(0, {root!r})
from tests.benchmark_script import load_benchmark
steps = load_benchmark("host_syncs").count_syncs("kda_3to1", "tiny", 5, 100, ["data.pack_boundaries=true"])
print(json.dumps([dict(step) for step in steps]))
"""


def test_a_packed_kda_3to1_step_reads_only_the_deferred_verdict_on_the_host() -> None:
    root = str(BENCHMARKS.parent)
    run = subprocess.run([sys.executable, "-c", COUNT.format(root=root)], cwd=root, capture_output=True, text=True,
                         timeout=600)
    assert run.returncode == 0, run.stderr[-2000:]
    steps = json.loads(run.stdout.strip().splitlines()[-1])
    assert len(steps) == 4  # steps 1-4; step 0 (start-up) is not counted
    # The last step writes the checkpoint and the final metrics; every step before it is a plain training step.
    for sites in steps[:-1]:
        # One call: the previous step's (non-finite step, non-finite loss) flags, copied to a pinned host buffer
        # without blocking and read once its event has passed (hybrid/train/module.py, _Verdict.read).
        assert sum(sites.values()) == 1, sites
        (site,) = sites
        assert site.split()[0] == "tolist" and site.split()[1].startswith("hybrid/train/module.py:"), sites
