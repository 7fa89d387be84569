"""The summary notebook's one object: ``Study.load`` reads a runs folder, and each method hands the runs to the
module that does the job, so the notebook reads as the report and the work reads as a pipeline:

    runs (one protocol, designs, stages) -> cells, learning (flags, convergence) -> analysis (claims part by
    part, comparisons, batch effects) -> front page, findings, texts, tables, figures -> outputs (files)

Only reads: nothing here trains. ``write`` needs no notebook: it draws every figure it writes.
"""
from __future__ import annotations

import functools
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd
from matplotlib.figure import Figure

from ..paths import from_repo
from . import against as AG
from . import cells as C
from . import figures as F
from . import findings as FD
from . import front as P1
from . import learning as L
from . import runs as R
from . import tables as T
from . import texts as X
from .analysis import Analysis, analyze
from .outputs import summary_index, write_report


@dataclass
class Study:
    """One runs folder read for the report: the runs table, what was set aside, the report's numbers, the
    second stages, and the figures drawn so far."""
    runs: pd.DataFrame
    reference: dict[str, Any]
    report_dir: Path
    problems: list[dict[str, str]] = field(default_factory=list)
    duplicates: int = 0
    figures: dict[str, Figure] = field(default_factory=dict)   # file stem -> the figure last drawn
    fixed_epochs: int = 0   # the epochs of the report's design (fixed epochs and lr) in these runs
    stages: list[dict[str, Any]] = field(default_factory=list)
    committed: R.Loaded | None = None   # the committed study this run is checked against (--against)

    @classmethod
    def load(cls, runs_dir: str, reference: str, report_dir: str, select: str = "", against: str = "") -> "Study":
        found = R.read_study_runs(from_repo(runs_dir), select)
        then = R.read_study_runs(from_repo(against), select) if against else None
        return cls(found.runs, R.load_reference(from_repo(reference)), from_repo(report_dir), found.problems,
                   found.duplicates, fixed_epochs=found.fixed_epochs, stages=found.stages, committed=then)

    # ---- what the runs are, and the numbers (computed once) ----
    def designs(self) -> list[str]:
        return R.designs(self.runs)

    def protocol(self) -> dict[str, Any]:
        return R.protocol(self.runs, self.fixed_epochs)

    def comparable(self) -> bool:
        return R.comparable(self.protocol())

    @functools.cached_property
    def cells(self) -> pd.DataFrame:
        return C.cells(self.runs, self.reference["table"], self.comparable())

    @functools.cached_property
    def analysis(self) -> Analysis:
        return analyze(self.runs, self.protocol())

    @functools.cached_property
    def flags(self) -> dict[tuple[str, int], list[str]]:
        return L.cell_flags(self.runs)

    @functools.cached_property
    def lr_flags(self) -> dict[float, list[str]]:
        return L.sweep_flags(self.runs)

    def claims(self):
        return self.analysis.claims

    @functools.cached_property
    def against(self) -> AG.Against | None:
        """This study checked against the committed one (None when no committed study was given)."""
        if self.committed is None:
            return None
        then = self.committed
        return AG.compare(self.runs, then.runs, self.claims(),
                          analyze(then.runs, R.protocol(then.runs, then.fixed_epochs)).claims)

    def against_markdown(self) -> str:
        return X.against_markdown(self.against) if self.against is not None else ""

    def against_table(self) -> pd.DataFrame:
        return AG.table(self.against)

    def against_environments(self, styled: bool = False):
        t = self.against.environments
        return self._wide(t, [18, 41, 41]) if styled else t

    def findings(self) -> list[dict[str, str]]:
        return FD.findings(self.runs, self.analysis, self.flags, self.lr_flags, self.comparable())

    def sweep_cells(self) -> pd.DataFrame:
        return C.sweep_cells(self.runs, self.reference["sweep"])

    # ---- page 1 ----
    def protocol_table(self, styled: bool = False):
        t = P1.protocol_table(self.runs, self.stages)
        return self._wide(t, [22, 39, 39]) if styled else t

    def reproduced_table(self, styled: bool = False):
        t = P1.reproduced_table(self.claims(), self.cells, self.sweep_cells(), self.flags, self.lr_flags)
        return self._wide(t, [25, 19, 19, 37]) if styled else t

    @staticmethod
    def _wide(t: pd.DataFrame, widths: list[int]):
        from IPython.display import HTML
        return HTML(T.wide_html(t, widths))

    def findings_markdown(self) -> str:
        return FD.findings_markdown(self.findings())

    # ---- the sections ----
    def accuracy_note(self) -> str:
        return (X.comparison_note(self.protocol()) + " ‡: near chance (below chance + 10 points); †: still learning "
                "(the last epoch added more than 2 points).")

    def accuracy_table(self, styled: bool = False):
        """The accuracy table; ``styled``: as the report shows it (the report's column in grey)."""
        t = T.accuracy_table(self.cells, self.comparable(), self.flags)
        if not styled:
            return t
        from IPython.display import HTML
        return HTML(T.muted(t).to_html())   # an HTML object: its text form is the same on every run (nbval)

    def claims_note(self) -> str:
        return X.claims_note(self.runs, self.protocol(), self.reference, self.cells)

    def claim_sections(self) -> list[tuple[str, pd.DataFrame]]:
        """Each claim: its heading (the report's words, the tested statement, the verdict) and its parts' table."""
        return [(X.claim_heading(c), T.part_rows(c.parts)) for c in self.claims()]

    def convergence_note(self) -> str:
        conv = L.convergence(self.runs)
        t = conv.threshold.iloc[0] if len(conv) else float("nan")
        return (f"Mean ± sd over the completed seeds: test accuracy after the first epoch, and the epochs (SGD steps) a "
                f"seed took to reach {t:g} % (90 % of the best cell's mean, rounded down); a seed that never reached it "
                f"is counted, not averaged in.")

    def convergence_table(self) -> pd.DataFrame:
        return T.convergence_table(L.convergence(self.runs))

    def batch_markdown(self) -> str:
        """The answer in plain sentences with their numbers, then each design in a line."""
        return FD.batch_sentences(self.analysis, self.runs) + "\n\n" + X.designs_note(C.design_cells(self.runs),
                                                                                      self.designs())

    def batch_effect_table(self) -> pd.DataFrame:
        return T.batch_effect_table(self.analysis.batch_effects)

    def lr_table(self) -> pd.DataFrame:
        return T.lr_table(self.sweep_cells(), self.comparable(), self.lr_flags)

    def stages_markdown(self) -> str:
        return X.stages_markdown(self.runs, self.stages, self.claims())

    def plan_table(self) -> pd.DataFrame:
        near = {cell for cell, f in self.flags.items() if L.NEAR_CHANCE in f}
        near |= {("lr", lr) for lr, f in self.lr_flags.items() if L.NEAR_CHANCE in f}
        return T.plan_table(self.claims(), near)

    def method_markdown(self) -> str:
        return X.method_markdown()

    def header_markdown(self) -> str:
        return X.header_markdown(self.runs, self.duplicates, self.problems)

    def environment_table(self, styled: bool = False):
        t = T.environment_table(self.runs)
        return self._wide(t, [18, 82]) if styled else t

    def time_table(self) -> pd.DataFrame:
        return T.time_table(self.runs)

    def problems_table(self) -> pd.DataFrame:
        return T.problems_table(self.runs, self.problems)

    shown = staticmethod(T.as_shown)   # a table as the report shows it (a one-line note as text)

    # ---- figures, kept by the name of their file ----
    def bar_chart(self) -> Figure:
        return self._keep("accuracy_bars", F.bar_chart(self.runs, self.cells, self.reference["table"],
                                                       self.comparable(), L.chance(self.runs)))

    def forest(self) -> Figure:
        return self._keep("differences", F.forest(self.runs, self.analysis.comparisons))

    def designs_chart(self) -> Figure:
        return self._keep("designs", F.designs_chart(self.runs))

    def learning_curves(self) -> Figure:
        return self._keep("learning_curves", F.learning_curves(self.runs))

    def _keep(self, name: str, fig: Figure) -> Figure:
        self.figures[name] = fig
        return fig

    # ---- output ----
    def write(self) -> list[Path]:
        """results.csv (one row per run), cells.csv, designs.csv, every figure as PNG and summary.json,
        whichever notebook cells ran before: it draws each figure not drawn yet (the designs chart when the runs
        hold a design). A figure already drawn is written as it is: it is the one the notebook showed."""
        draw = {"accuracy_bars": self.bar_chart, "differences": self.forest, "designs": self.designs_chart,
                "learning_curves": self.learning_curves}
        if len(self.designs()) < 2:
            del draw["designs"]
        for name, drawing in draw.items():
            if name not in self.figures:
                drawing()
        index = summary_index(self.runs, self.protocol(), self.fixed_epochs, self.duplicates, self.problems,
                              self.analysis, self.findings(), FD.flags_index(self.flags, self.lr_flags),
                              L.convergence(self.runs), self.stages,
                              self.against.summary() if self.against is not None else None)
        return write_report(self.report_dir, self.runs, self.cells, C.design_cells(self.runs), self.figures, index)
