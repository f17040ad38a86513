"""The study's comparison as a W&B run in the study's group (job_type "report"): the value and ratio tables, the
verdicts and every plot, so the project page shows the ablation without hand-made panels. Offline unless
WANDB_MODE=online (`wandb sync <study>/wandb/offline-run-*` uploads it)."""
from __future__ import annotations

import os

from eval.compare.report import Report
from eval.compare.table import ratios_table, values_table


def log_report(rep: Report, project: str | None = None) -> str:
    """Log `rep` to W&B; returns the run's local directory."""
    import wandb

    s = rep.study
    project = project or s.manifest.get("wandb_project") or "hybrid-ablations"
    mode = "online" if os.environ.get("WANDB_MODE") == "online" else "offline"
    run = wandb.init(project=project, group=s.name, name=f"{s.name}-report", job_type="report", mode=mode,
                     dir=str(rep.study_dir), tags=["report", f"study={s.name}", f"baseline={s.baseline}"],
                     config={"study": s.name, "baseline": s.baseline, "axes": s.axes, **rep.provenance},
                     reinit="finish_previous")
    try:
        values, ratios = values_table(s, rep.rows), ratios_table(s, rep.rows)
        run.log({
            "compare/values": wandb.Table(columns=values[0], data=values[1:]),
            "compare/ratios": wandb.Table(columns=ratios[0], data=ratios[1:]),
            "compare/verdicts": wandb.Table(columns=["design", "verdict"], data=[list(kv) for kv in
                                                                                rep.verdicts.items()]),
            **{f"plots/{p.relative_to(rep.md.parent / 'plots').with_suffix('').as_posix()}": wandb.Image(str(p))
               for p in rep.plots},
        })
        for r in rep.rows:  # the ratio per design as summary numbers, comparable across studies
            for g, q in r.ratios.items():
                if q is not None:
                    run.summary[f"ratio/{g}/{r.metric}"] = q.value
        return run.dir
    finally:
        run.finish()
