"""The study's vocabulary: the names every other module shares, written once. Imports nothing from alexlib.

The norms live in their registry (alexlib.train.net.norms). Here: the precisions a run may name, the report's
protocol, the designs that separate batch size from step count, the statuses a run record can have, and how
durations are printed.
"""
from __future__ import annotations

# ---- the study's variables ----
PRECISIONS = ("auto", "fp32", "bf16")

# ---- the report's protocol and the designs ----
REFERENCE_LR = 0.005
# The report chose lr 0.005 at batch 64 (its sweep), so the arms that take the step count (or the lr) out of
# the batch-size comparison are anchored there: batch 64 at the fixed design's epochs and lr is in all three.
ANCHOR_BATCH = 64
# What every run of a study must share. lr and epochs are not here: they are the study's designs (the lr
# sweep, equal steps, linear lr scaling), told apart by how they vary with the batch size.
PROTOCOL = ("dataset", "image_size", "width", "train_size", "test_size", "precision", "momentum",
            "dropout", "gn_groups")
ALIKE = ("norm", "batch_size", "lr", "epochs")   # runs alike but for their seed, within one protocol and design
REPORT_BATCHES = (8, 16, 32, 64)   # the report's batch sizes: its claims are judged over these only
DESIGNS = {  # design -> (short name, what varies with the batch size)
    "fixed": ("fixed epochs and lr", "the report's design: epochs and lr the same at every batch size, so a "
                                     "small batch takes more SGD steps"),
    "equal_steps": ("equal steps", f"every batch size takes the SGD steps batch {ANCHOR_BATCH} takes: epochs "
                                   f"proportional to the batch size, lr fixed"),
    "lr_scaled": ("linear lr scaling", f"lr = {REFERENCE_LR:g} x batch / {ANCHOR_BATCH} (Goyal et al. 2017), "
                                       "epochs fixed"),
}
# The report's protocol, for the like-for-like comparison with its numbers
REPORT_PROTOCOL = {"dataset": "cifar10", "image_size": 224, "width": 1.0, "epochs": 10, "train_size": 0,
                   "test_size": 0, "momentum": 0.9, "dropout": 0.5, "gn_groups": 4}

# ---- run records ----
# A record's status, most finished first (a run counted twice keeps its most finished record). interrupted:
# stopped by Ctrl-C (KeyboardInterrupt), resumable from its checkpoint; running: still training, or killed
# before it could say so (kill -9, a lost machine).
STATUS_RANK = {"completed": 0, "diverged": 1, "failed": 2, "interrupted": 3, "running": 4}
FINISHED = ("completed", "diverged")               # a rerun returns these as they are

# ---- decisions ----
ALPHA = 0.05                                       # family-wise error rate of every table and claim
POWER = 0.8                                        # the power every "seeds needed" and "could show" is stated at
SEED_LIMIT = 1000                                  # seeds per cell past which a need is "more than 1,000"
POWER_TEXT = f"{POWER:.0%}".replace("%", " %")     # "80 %", as the report prints it
BEYOND_LIMIT = f"more than {SEED_LIMIT:,}"         # "more than 1,000"


def fmt_time(s: float) -> str:
    """Seconds as 1h02m or 3m05s."""
    s = int(s)
    return f"{s // 3600}h{s % 3600 // 60:02d}m" if s >= 3600 else f"{s // 60}m{s % 60:02d}s"


def counted(n: int, noun: str, plural: str | None = None) -> str:
    """'1 run', '3 runs', '0 claims': a count with its noun in the right number (never 'run(s)')."""
    return f"{n} {noun if n == 1 else plural or noun + 's'}"


def nouned(items: list[str], noun: str, plural: str | None = None) -> str:
    """'claim 3', 'claims 3, 5': a noun in the number its list needs, then the list."""
    return f"{noun if len(items) == 1 else plural or noun + 's'} {', '.join(items)}"
