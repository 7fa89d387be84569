"""Judging a claim part by part, at the size it claims, over the study's two stages (``alexlib.report.inference.looks``).

A claim is a list of parts; each part is one difference (points) with what the claim says of it:
- a direction and a size that matters, fixed before the data: ``expect`` +1 (the difference exceeds +margin),
  -1 (it is below -margin); margin 0 for "the direction only" (``slightly``, ``improves``);
- or an equivalence (``expect`` 0): the difference lies within ±margin ("stable across batch sizes").

Each part's outcome is read off one interval, the one its tests used:
- *shown*: the interval lies beyond the claimed size in the claimed direction (inside ±margin for an
  equivalence);
- *shown against*: it lies wholly on the other side of zero;
- *size ruled out*: it excludes the claimed size without being against (a one-sided test against the margin,
  as non-inferiority trials test one);
- *open*: none of these; *not testable*: the part lacks its cells.
A claim is *reproduced* when every part is shown, *not reproduced* when a part is shown against or its size is
ruled out, *not testable* when a part lacks its cells, else *open*.

Levels: the parts of a claim share α = 0.05 by Bonferroni (each one-sided test at α / (2k) for k parts), so the
chance of calling a true claim not reproduced, or a false one reproduced, is at most α, and every part's interval
holds at 95 % together with the claim's others. Looks are declared before the data (``looks``): a part whose cells
a second stage may grow has two (O'Brien–Fleming: the first stage at the first look's boundary, the inverse-normal
combination of both stages at the second's), and its interval is both looks' intervals at once (their
intersection); a part whose cells no later stage can grow has one, at its full share of α, on every seed it has.
The outcome is read off that one interval, so a quantity two parts share shows one interval. Seeds that diverged
never count as support: a part whose claimed-better side lost seeds cannot be shown.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from ...vocab import ALPHA, POWER
from . import looks

SHOWN, AGAINST, RULED_OUT, OPEN, UNTESTABLE = "shown", "shown against", "size ruled out", "open", "not testable"
OUTCOMES = (SHOWN, AGAINST, RULED_OUT, OPEN, UNTESTABLE)
REPRODUCED, NOT_REPRODUCED, CLAIM_OPEN, NOT_TESTABLE = "reproduced", "not reproduced", "open", "not testable"
VERDICTS = (REPRODUCED, NOT_REPRODUCED, CLAIM_OPEN, NOT_TESTABLE)
DECISION_POINTS = 2.0   # the size a direction-only part is planned to decide (seeds on demand)


@dataclass
class Part:
    key: str                                  # stable within its claim: the planner and the stages match on it
    what: str                                 # "BN − none, final accuracy, mean over batch sizes"
    stage1: looks.StageTest | None
    expect: int = 1                           # +1, -1: the claimed direction; 0: an equivalence
    margin: float = 0.0                       # points: the size that matters (0: the direction only)
    cells: tuple[tuple, ...] = ()             # the cells it reads: (norm, batch size) or ("lr", lr)
    blocked: str = ""                         # why it cannot be shown (seeds lost on the claimed-better side)
    quantity: str = ""                        # the difference's id across the report (one interval per quantity)
    sign: int = 1                             # +1: the quantity as named; -1: its negative
    group: str = ""                           # the claim's piece it belongs to ("stable", "best at 64")
    stage2: looks.StageTest | None = None
    looks: int = 2                            # declared before the data: 2 where a later stage may grow its cells
    # the judgement
    outcome: str = UNTESTABLE
    interval: looks.Interval | None = None
    p: float = math.nan                       # the one-sided p of the test that decided (or came closest)
    needed: float = math.nan                  # what that p had to be below
    test: str = ""                            # which test that was
    stage: int = 0                            # the look that decided it (0: none)
    alpha: float = ALPHA / 2                  # each one-sided test's share of the claim's α

    def __post_init__(self):
        if self.stage1 is not None and not self.quantity:   # decided once: as one named quantity of the report
            raise ValueError(f"part {self.key!r} ({self.what}) needs its quantity: the difference's id across the "
                             "report (claims.pair_key, claims.batch_key, or the claim's own)")

    # ---- the tests: (name, p at the first look, p combined or nan) for the outcomes this part can reach ----
    def claimed(self) -> str:
        """What the claim says of this difference, in a few characters: '> 0', '< −10', 'within ±5'."""
        if self.expect == 0:
            return f"within ±{self.margin:g}"
        side = ">" if self.expect > 0 else "<"
        return f"{side} {'+' if self.expect > 0 else '−'}{self.margin:g}" if self.margin else f"{side} 0"

    def _tests(self) -> list[tuple[str, str, float, bool]]:
        """(outcome, test name, delta, above) for each one-sided test this part can decide by."""
        m, s = self.margin, self.expect
        if s == 0:
            return [(SHOWN, f"within ±{m:g}", m, False), (RULED_OUT, f"above +{m:g}", m, True),
                    (RULED_OUT, f"below −{m:g}", -m, False)]
        tests = [(SHOWN, f"{'above +' if s > 0 else 'below −'}{m:g}" if m else ("above 0" if s > 0 else "below 0"),
                  s * m, s > 0),
                 (AGAINST, "below 0" if s > 0 else "above 0", 0.0, s < 0)]
        if m > 0:
            tests.append((RULED_OUT, f"{'below +' if s > 0 else 'above −'}{m:g}", s * m, s < 0))
        return tests

    def _p(self, t: looks.StageTest, name: str, delta: float, above: bool) -> float:
        if name.startswith("within"):
            return max(t.p_above(-delta), t.p_below(delta))
        return t.p_above(delta) if above else t.p_below(delta)

    def _combined_p(self, name: str, delta: float, above: bool) -> float:
        if name.startswith("within"):
            return max(looks.combined_p(self.stage1, self.stage2, -delta, True),
                       looks.combined_p(self.stage1, self.stage2, delta, False))
        return looks.combined_p(self.stage1, self.stage2, delta, above)

    def judge(self, alpha: float) -> "Part":
        """Decide this part with each one-sided test at ``alpha`` (its share of the claim's α), at its declared
        looks: the outcome is read off its one interval, and the p shown is that of the test that decided it (or
        came closest)."""
        self.alpha = alpha
        if self.stage1 is None or not self.stage1.testable:
            self.outcome, self.stage = UNTESTABLE, 0
            return self
        two = self.looks == 2
        first = looks.first_look_interval(self.stage1, alpha, two)
        self.interval = first
        c1 = looks.boundaries(alpha)[0] if two else looks.single_look_boundary(alpha)
        tries = [(1, looks.p_of(c1), lambda n, d, a: self._p(self.stage1, n, d, a))]
        if two and self.stage2 is not None and self.stage2.testable:
            self.interval = looks.intersect(first, looks.combined_interval(self.stage1, self.stage2, alpha))
            tries.append((2, looks.p_of(looks.boundaries(alpha)[1]), self._combined_p))
        self.outcome = self.read(self.interval)
        self.stage = 0 if self.outcome == OPEN else 1 if self.read(first) == self.outcome else 2
        found = closest = None
        for stage, needed, p_of in tries:
            for outcome, name, delta, above in self._tests():
                if outcome == SHOWN and self.blocked:
                    continue
                p = p_of(name, delta, above)
                if (stage, outcome) == (self.stage, self.outcome) and (found is None or p < found[0]):
                    found = (p, needed, name)
                if closest is None or p / needed < closest[0]:
                    closest = (p / needed, p, needed, name)
        self.p, self.needed, self.test = found or closest[1:]
        return self

    def read(self, iv: looks.Interval) -> str:
        """The outcome an interval gives: beyond the claimed size in the claimed direction (inside ±margin for an
        equivalence), wholly on the other side of zero, excluding the claimed size, or none of these."""
        lo, hi, m, s = iv.low, iv.high, self.margin, self.expect
        if not (lo == lo and hi == hi):
            return OPEN
        if s == 0:
            if -m < lo and hi < m and not self.blocked:
                return SHOWN
            return RULED_OUT if lo > m or hi < -m else OPEN
        lo, hi = (lo, hi) if s > 0 else (-hi, -lo)   # the claimed direction as positive
        if lo > m and not self.blocked:
            return SHOWN
        if hi < 0:
            return AGAINST
        return RULED_OUT if m > 0 and hi < m else OPEN

    # ---- what a second stage would need ----
    def distance(self) -> float:
        """The size a second stage is planned to decide: the margin where the claim has one, else 2 points."""
        return self.margin if self.margin > 0 else DECISION_POINTS

    def seeds_needed(self) -> int | None:
        """Seeds per cell a second stage needs to decide this open part with 80 % power at ``distance`` (the
        conditional power given its first look: the test that came closest, the truth that far beyond it). An
        equivalence must clear both of its one-sided tests: each is planned at 90 %, from its weaker side. None
        when the part is decided, when a second stage has already run (the sequential test has two looks), or when
        the part was declared with one look."""
        if self.outcome != OPEN or self.stage1 is None or self.stage2 is not None or self.looks < 2:
            return None
        if self.expect == 0:
            m = self.margin
            z1 = min(looks.z_of(self.stage1.p_above(-m)), looks.z_of(self.stage1.p_below(m)))
            return looks.seeds_for_second_stage(self.stage1, self.distance(), min(z1, 10.0), self.alpha, 1 - (1 - POWER) / 2)
        tests = [(n, d, a) for o, n, d, a in self._tests() if not (o == SHOWN and self.blocked)]
        z1 = max(looks.z_of(self._p(self.stage1, n, d, a)) for n, d, a in tests)
        return looks.seeds_for_second_stage(self.stage1, self.distance(), min(z1, 10.0), self.alpha, POWER)

    def as_dict(self) -> dict[str, Any]:
        iv = self.interval
        return {"key": self.key, "what": self.what, "expect": self.expect, "margin": self.margin,
                "outcome": self.outcome, "stage": self.stage, "test": self.test, "p": self.p, "p_needed": self.needed,
                "alpha_one_sided": self.alpha, "diff": None if iv is None else iv.estimate,
                "ci_low": None if iv is None else iv.low, "ci_high": None if iv is None else iv.high,
                "level": None if iv is None else 1 - ALPHA, "level_each": None if iv is None else iv.level,
                "unbounded": None if iv is None else iv.unbounded, "estimator": None if iv is None else iv.estimator,
                "looks": self.looks, "n": None if self.stage1 is None else self.stage1.n,
                "n_stage2": None if self.stage2 is None else self.stage2.n, "blocked": self.blocked,
                "cells": [list(c) for c in self.cells], "quantity": self.quantity, "group": self.group,
                "seeds_needed": self.seeds_needed(), "distance": self.distance()}


@dataclass
class Claim:
    id: str
    claim: str                 # the report's conclusion, as it says it
    statement: str             # the form in which it is tested here
    parts: list[Part] = field(default_factory=list)
    verdict: str = NOT_TESTABLE
    judged_on: str = ""
    sensitivity: str = ""      # the verdict with diverged seeds counted at chance

    def judge(self) -> "Claim":
        k = max(1, len(self.parts))
        for p in self.parts:
            p.judge(ALPHA / (2 * k))
        outcomes = [p.outcome for p in self.parts]
        if any(o in (AGAINST, RULED_OUT) for o in outcomes):
            self.verdict = NOT_REPRODUCED
        elif outcomes and all(o == SHOWN for o in outcomes):
            self.verdict = REPRODUCED
        elif not outcomes or UNTESTABLE in outcomes:
            self.verdict = NOT_TESTABLE
        else:
            self.verdict = CLAIM_OPEN
        return self

    def level(self) -> float:
        """Each part's share of α, one-sided."""
        return ALPHA / (2 * max(1, len(self.parts)))

    def as_dict(self) -> dict[str, Any]:
        return {"id": self.id, "claim": self.claim, "statement": self.statement,
                "verdict": self.verdict, "judged_on": self.judged_on, "sensitivity": self.sensitivity,
                "alpha_one_sided_per_part": self.level(), "parts": [p.as_dict() for p in self.parts]}
