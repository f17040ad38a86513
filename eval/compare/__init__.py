"""Cross-run comparison of a study: `python -m eval.compare runs/<study>` (also run at the end of every study)."""
