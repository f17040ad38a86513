"""python -m eval.compare runs/<study> [--out DIR] [--wandb]: write the study's report.md, report.html and plots."""
from __future__ import annotations

import argparse
import sys


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m eval.compare", description=__doc__.split(":", 1)[1].strip())
    p.add_argument("study_dir", help="a study's directory (runs/<study>, holding study.json)")
    p.add_argument("--out", default=None, help="write the report here instead of into the study's directory "
                   "(e.g. docs/studies/<study> to commit it)")
    p.add_argument("--wandb", action="store_true", help="also log the tables and plots as a W&B report run in the "
                   "study's group (offline unless WANDB_MODE=online)")
    args = p.parse_args(sys.argv[1:] if argv is None else argv)
    from eval.compare.report import write_report

    try:
        rep = write_report(args.study_dir, args.out)
    except ValueError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    for g, v in rep.verdicts.items():
        print(f"{g}: {v}")
    print(f"report: {rep.md} and {rep.html} ({len(rep.plots)} plots)")
    if args.wandb:
        from eval.compare.wandb_report import log_report

        print(f"wandb report run: {log_report(rep)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
