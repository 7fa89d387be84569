"""Seeds on demand, the plan: after the first stage, which cells get how many more seeds so that the claims' open
parts can be decided, within a budget. Pure: the claims (judged on the first stage), the seeds each cell has, and
what one more run of a cell costs are given; ``alexlib.decide`` gives them from a runs folder and this machine's
cost estimate, and runs the plan through the grid.

- A cell is grown by one stage at most: parts that read a cell an earlier stage grew are judged on what they have,
  so a study that had a stage for some claims can have one for claims added since, on their other cells.
- Only claims not yet decided are planned (a claim with a part shown against or ruled out is not reproduced,
  whatever its other parts would show).
- Each open part asks for the seeds per cell that give 80 % conditional power at the size that matters
  (``Part.seeds_needed``), the same number added to every cell it reads (paired parts stay paired), and never more
  than ``cap`` seeds per cell in all.
- A claim's cost is the runs its open parts add, at what each cell's run costs; claims are taken cheapest first
  (cost per decision: one claim each), counting a cell another chosen claim already grew only once, until the
  budget (seconds, or a number of runs) is spent. What the budget could not reach is kept, with its cost.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Callable

from ...vocab import ANCHOR_BATCH, BEYOND_LIMIT, REFERENCE_LR
from .verdicts import NOT_REPRODUCED, OPEN, REPRODUCED, Claim, Part

Cell = tuple   # (norm, batch size) of the report's design, or ("lr", lr) of the sweep
CAP = 20       # seeds per cell at most, first stage included


def run_cell(cell: Cell) -> Cell:
    """The cell whose runs a cell's seeds are: the sweep's lr 0.005 is no normalization at batch 64."""
    return ("none", ANCHOR_BATCH) if cell[0] == "lr" and abs(cell[1] - REFERENCE_LR) < 1e-12 else cell


@dataclass
class PartNeed:
    claim: str
    part: Part
    cells: tuple[Cell, ...]
    add: int               # seeds per cell this part adds (0 when it cannot be planned)
    why_not: str = ""      # why it cannot be planned (beyond the cap, no spread to plan from)


@dataclass
class ClaimPlan:
    claim: str
    needs: list[PartNeed]
    cells: dict[Cell, int]                      # cell -> seeds to add
    runs: int = 0
    seconds: float = 0.0


@dataclass
class StagePlan:
    chosen: list[ClaimPlan] = field(default_factory=list)
    unreached: list[ClaimPlan] = field(default_factory=list)    # in the budget's order, with their own cost
    unplannable: list[PartNeed] = field(default_factory=list)   # open parts no seeds within the cap would decide
    cells: dict[Cell, int] = field(default_factory=dict)       # cell -> seeds to add, over the chosen claims
    runs: int = 0
    seconds: float = 0.0

    def new_seeds(self, first: int) -> dict[Cell, list[int]]:
        """The seeds each cell runs, numbered from ``first``: a cell that grows by n gets first .. first+n-1, the
        same numbers in every cell, so paired comparisons stay paired."""
        return {c: list(range(first, first + n)) for c, n in self.cells.items()}


def part_needs(claims: list[Claim], seeds_now: dict[Cell, int], cap: int = CAP,
               untrained: dict[Cell, str] | None = None, closed: frozenset | set = frozenset()) -> list[PartNeed]:
    """Every open part of every claim with the seeds per cell it asks for (within ``cap`` in all). A part whose
    cells are all ``untrained`` (near chance: they have not learned) is not planned: more seeds of a network that
    has not learned measure nothing new; more training would. A part that reads a ``closed`` cell (one an earlier
    stage already grew) is not planned either: a cell is grown once, so every part has two looks at most (its
    first on the grid's seeds, its second on all the seeds a stage added to its cells)."""
    untrained = untrained or {}
    closed = set(closed) | {run_cell(cell) for cell in closed}   # the sweep's lr 0.005 is none at batch 64
    out = []
    for c in claims:
        if c.verdict in (REPRODUCED, NOT_REPRODUCED):   # decided: more seeds would not change its verdict
            continue
        for p in c.parts:
            if p.outcome != OPEN:
                continue
            if p.cells and all(cell in untrained for cell in p.cells):
                out.append(PartNeed(c.id, p, p.cells, 0, "its cells are near chance: more training, not more "
                                                         "seeds, would decide it"))
                continue
            if any(run_cell(cell) in closed or cell in closed for cell in p.cells):
                out.append(PartNeed(c.id, p, p.cells, 0, "a cell it reads had its second stage already (two "
                                                         "looks at most): judged on the seeds it has"))
                continue
            n = p.seeds_needed()
            room = min((cap - seeds_now.get(run_cell(cell), seeds_now.get(cell, 0)) for cell in p.cells), default=0)
            if n is None:
                out.append(PartNeed(c.id, p, p.cells, 0, f"{BEYOND_LIMIT} seeds per cell"))
            elif n > room:
                out.append(PartNeed(c.id, p, p.cells, 0, f"{n} more seeds per cell, beyond the cap of {cap}"))
            else:
                out.append(PartNeed(c.id, p, p.cells, n))
    return out


def _claim_plans(needs: list[PartNeed]) -> list[ClaimPlan]:
    plans: dict[str, ClaimPlan] = {}
    for nd in needs:
        if not nd.add:
            continue
        cp = plans.setdefault(nd.claim, ClaimPlan(nd.claim, [], {}))
        cp.needs.append(nd)
        for cell in map(run_cell, nd.cells):
            cp.cells[cell] = max(cp.cells.get(cell, 0), nd.add)
    return list(plans.values())


def plan_second_stage(claims: list[Claim], seeds_now: dict[Cell, int], cost: Callable[[Cell], float],
                      budget_seconds: float | None = None, budget_runs: int | None = None,
                      cap: int = CAP, untrained: dict[Cell, str] | None = None,
                      closed: frozenset | set = frozenset()) -> StagePlan:
    """The second stage within the budget (seconds of wall time, or runs): the claims' open parts planned,
    cheapest claim first, a cell grown for two claims paid for once. ``cost(cell)``: the wall seconds one more
    run of that cell adds (infinite for a cell the grid cannot make: a claim that needs one is never chosen, whatever
    the budget); ``untrained``: cells near chance (their parts are not planned); ``closed``: cells an
    earlier stage grew (their parts are not planned: ``part_needs``)."""
    needs = part_needs(claims, seeds_now, cap, untrained, closed)
    plan = StagePlan(unplannable=[nd for nd in needs if not nd.add])
    todo = _claim_plans(needs)
    for cp in todo:
        cp.runs = sum(cp.cells.values())
        cp.seconds = sum(n * cost(cell) for cell, n in cp.cells.items())

    def extra(cp: ClaimPlan) -> tuple[int, float]:
        grow = {cell: max(0, n - plan.cells.get(cell, 0)) for cell, n in cp.cells.items()}
        return sum(grow.values()), sum(n * cost(cell) for cell, n in grow.items())
    while todo:
        best = min(todo, key=lambda cp: (extra(cp)[1], extra(cp)[0], cp.claim))
        runs, seconds = extra(best)
        fits = math.isfinite(seconds) and (budget_runs is None or plan.runs + runs <= budget_runs) and \
            (budget_seconds is None or plan.seconds + seconds <= budget_seconds)
        todo.remove(best)
        if not fits:
            plan.unreached.append(best)
            continue
        plan.chosen.append(best)
        for cell, n in best.cells.items():
            plan.cells[cell] = max(plan.cells.get(cell, 0), n)
        plan.runs += runs
        plan.seconds += seconds
    return plan
