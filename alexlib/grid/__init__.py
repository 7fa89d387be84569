"""Many runs: a grid file expanded into a plan of checked configurations, each executed as notebooks/run.ipynb
through an executor (this machine, or SLURM through submitit), resumable, with its cost estimated first.

    python -m alexlib.grid params/paper.yaml [--jobs auto|N] [--dry-run] [--executor slurm]

plan -> executor (the core every backend shares) <- local | slurm (backends, by name) -> runner (one run's
notebook and its record) ; estimate (what a grid will cost here) ; command (the command line).
"""
