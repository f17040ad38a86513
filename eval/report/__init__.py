"""Reporting a suite's results: the MiniMax-gap summary, PNG plots, and probes.json in the run directory."""
