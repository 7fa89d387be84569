"""The captions of the report's figures and tables, each saying what is drawn and from how many runs, the count
taken from the runs the figure or table reads (``numbering`` puts the number in front).

    caption_text(key, runs, ...) -> "Test accuracy ... (138 runs)."
"""
from __future__ import annotations

import pandas as pd

from ...vocab import ANCHOR_BATCH
from ..domain.analysis import paper_design_runs
from ..domain.claims import BN_FALL
from ..domain.learning import convergence
from ..domain.runs import arm, cells_of, main_grid, sweep
from ..inference.verdicts import Claim
from .references import cite
from .texts import convergence_note


def n_runs(d: pd.DataFrame) -> str:
    """'138 runs' or '9 runs, 2 of them diverged or failed'."""
    lost = int(d.status.isin(["diverged", "failed"]).sum()) if "status" in d else 0
    return f"{len(d)} run{'s' if len(d) != 1 else ''}" + (f", {lost} of them diverged or failed" if lost else "")


def cells_runs(runs: pd.DataFrame, cells) -> pd.DataFrame:
    """The runs whose seeds count in ``cells`` ((norm, batch size), or ("lr", lr): the sweep's), by the one rule of
    cell identity (``runs.cells_of``), whatever their status."""
    cells = set(cells)
    return runs[[bool(cells & set(cells_of(n, b, lr, d)))
                 for n, b, lr, d in zip(runs.norm, runs.batch_size, runs.lr, runs.design)]]


def curve_runs(runs: pd.DataFrame) -> pd.DataFrame:
    """The completed runs the learning curves draw: the report's design and the two batch-8 arms."""
    done = runs[runs.status == "completed"]
    return done[done.design.isin(["fixed", "equal_steps", "lr_scaled"])]


def claims_runs(runs: pd.DataFrame, claims: list[Claim]) -> pd.DataFrame:
    return cells_runs(runs, [cell for c in claims for p in c.parts for cell in p.cells])


def effect_runs(runs: pd.DataFrame, batch_effects: list[dict]) -> pd.DataFrame:
    """The runs the batch-size effects read: each design's smallest batch size and batch 64."""
    parts = [a[a.batch_size.isin([r["small"], ANCHOR_BATCH]) & (a.norm == r["norm"])]
             for r in batch_effects for a in [arm(runs, r["design"])]]
    return pd.concat(parts).drop_duplicates("run_id") if parts else runs.iloc[0:0]


def claims_caption(source: str, runs: pd.DataFrame, claims: list[Claim]) -> str:
    d = n_runs(claims_runs(runs, claims))
    if source == "report":
        return (f"The report's claims ({cite('report')}): its numbers for each claim's cells, this study's means for "
                f"the same cells (test accuracy %, last epoch) and the verdict, part by part at the size the claim "
                f"makes; {d}.")
    design = paper_design_runs(runs)
    return (f"The Group Normalization paper's claims ({cite('gn')}, their table 2: ResNet-50 on ImageNet, top-1 error %, "
            f"so its directions and sizes compare, not its numbers), judged over every batch size from 2; {d}."
            + (" The last column judges them in the paper's own design: lr = 0.005 × batch / 64, the epochs fixed "
               f"(linear scaling, {cite('goyal')}), batch 64 shared with the report's design; one look; "
               f"{n_runs(design)}." if not design.empty else "")
            + (BN_FALL_NOTE if any(("bn", 4) in p.cells for c in claims if c.id == "G1" for p in c.parts) else ""))


# The paper's own BN error at batch 32 and 4 per GPU (its table 2; claim G1's words in claims.py quote them, frozen by
# the CIFAR registration): the step that G1's batch-4 part asks for more of
PAPER_BN_ERROR = {32: 23.6, 4: 27.3}
BN_FALL_NOTE = (f" G1's margin ({BN_FALL:g} points, every batch-size effect's) exceeds the paper's own rise from batch 32 to 4 "
                f"({PAPER_BN_ERROR[4] - PAPER_BN_ERROR[32]:.1f} points of error): its batch-4 part can fail where the "
                f"paper's effect holds.")


def figure_caption(key: str, runs: pd.DataFrame) -> str:
    """The caption of figure ``key`` (the stem of its file)."""
    grid = n_runs(main_grid(runs, only_completed=False))
    design = paper_design_runs(runs) if key == "accuracy_vs_batch" else runs.iloc[0:0]
    return {
        "accuracy_bars": "Test accuracy after the last epoch, per norm and batch size, in the report's design: bars "
                         f"mean ± sd over the completed seeds, dots single runs, n✕ seeds lost; {grid}.",
        "accuracy_vs_batch": "Test accuracy against batch size (log scale), as the Group Normalization paper draws its "
                             f"error: lines the cells' means, bands ± sd over seeds, dots runs; {grid}"
                             + (f"; dotted, hollow squares: the paper's design, lr = 0.005 × batch / 64 (means; "
                                f"{n_runs(design)})" if not design.empty else "")
                             + ".",
        "differences": "Every pair of norms at every batch size: the difference in mean test accuracy (points), "
                       "with its interval (circles: the table's rows, one family; "
                       f"diamonds: a claim's parts, its claim's family); filled: shown, hollow: not "
                       "told apart from seed-to-seed noise (not the same as no difference); zero in red; each panel's axis "
                       "fitted to its differences (an interval too wide to bound runs to the edge); "
                       f"{n_runs(main_grid(runs))}.",
        "learning_curves": "Test accuracy (top) and training loss (bottom) after each epoch, per batch size: mean "
                           "over the completed seeds with a band of ± sd; dashed: equal steps, dotted: lr scaled; "
                           f"{n_runs(curve_runs(runs))}.",
    }[key]


def table_caption(key: str, runs: pd.DataFrame, batch_effects: list[dict] = (), claims: list[Claim] = ()) -> str:
    """The caption of table ``key`` (a claim's: ``claim_caption``; the small-batch tables' are in their text)."""
    if key == "protocol":
        return f"The report's protocol beside this study's ({n_runs(runs)})."
    if key == "reencoding":   # ``runs``: the arm's runs, both sides
        return ("What re-encoding the images as JPEG (quality 75, as this copy) changes, measured where the originals "
                "exist: Fashion-MNIST trained on its own images and on a JPEG q75 re-encoding of them, the same "
                "configurations and seeds (63 px, width 0.125, 8 epochs); test accuracy (%), mean over seeds, and "
                f"re-encoded minus original paired on the seed; {n_runs(runs)} on the re-encoded images, each paired with "
                "the Fashion-MNIST study's run of the same configuration and seed.")
    if key == "across":
        return ("Each claim's verdict in this study and in every other committed study of this project (their "
                "reports' summary.json), each column named by its data: where the datasets agree, and where not. "
                "Other data, image sizes and networks: the verdicts compare, not the numbers.")
    if key == "accuracy":
        return ("Test accuracy (%), mean ± sd over the completed seeds after the last epoch, beside the report's "
                "single run; seeds that diverged or failed are counted beside their cell, never averaged in as zero; "
                f"{n_runs(main_grid(runs, only_completed=False))}.")
    if key == "convergence":
        return (f"{convergence_note(convergence(runs))[:-1]}; the report's design, "
                f"{n_runs(main_grid(runs, only_completed=False))}.")
    if key == "lr_sweep":
        return ("No normalization, batch 64, momentum 0.9, as in the report: test accuracy (%) per learning rate; "
                f"{n_runs(sweep(runs))}.")
    if key == "plan":
        return f"The open parts and the seeds per cell a second stage would need; from {n_runs(claims_runs(runs, claims))}."
    if key == "batch_effects":
        return ("Batch 64 minus the design's smallest batch size (points; positive: the larger batch is better), and "
                "for the equalizing designs the change of that effect against the report's design, tested as a change; "
                f"{n_runs(effect_runs(runs, batch_effects))}.")
    if key == "against":
        return f"This study ({n_runs(runs)}) against the committed one, cell by cell and verdict by verdict."
    if key == "against_environments":
        return "What each study ran on."
    if key == "environment":
        return f"What the runs ran on, each value with the runs behind it ({n_runs(runs)})."
    if key == "time":
        return ("Training seconds per run, the report's design (mean; evaluation excluded); "
                f"{n_runs(main_grid(runs, only_completed=False))}.")
    if key == "problems":
        return f"Runs that did not complete, and files that could not be read ({n_runs(runs[runs.status != 'completed'])})."
    raise KeyError(f"no caption for table {key!r}")


def claim_caption(heading: str, runs: pd.DataFrame, claim: Claim) -> str:
    """A claim's heading (``texts.claim_heading``) with the runs its parts read."""
    return f"{heading} From {n_runs(claims_runs(runs, [claim]))}."
