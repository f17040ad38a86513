"""Launchers run a study's cells: `local` (this machine's GPUs, or the CPU) and `slurm` (one job per cell)."""
