"""The summary notebook's one object: ``Study.load`` reads a runs folder, and each method hands the runs to
the module that does the job, so the notebook reads as the report and the work reads as a pipeline:

    runs (the runs table, one protocol, designs) -> cells (mean, sd, seeds counted) -> analysis
    (comparisons of norms, batch-size effects) -> claims -> texts / tables / figures -> outputs (files)

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
from . import cells as C
from . import figures as F
from . import findings as FD
from . import runs as R
from . import tables as T
from . import texts as X
from .analysis import Analysis, analyze
from .claims import Claim, report_claims
from .outputs import summary_index, write_report
from .stats import Comparison


@dataclass
class Study:
    """One runs folder read for the report: the runs table, what was set aside, the report's numbers, and
    the figures drawn so far. Every method is one call into the module that does the job."""
    runs: pd.DataFrame
    reference: dict[str, Any]
    report_dir: Path
    problems: list[dict[str, str]] = field(default_factory=list)
    duplicates: int = 0
    figures: dict[str, Figure] = field(default_factory=dict)   # file stem -> the figure last drawn
    fixed_epochs: int = 0   # the epochs of the report's design (fixed epochs and lr) in these runs

    @classmethod
    def load(cls, runs_dir: str, reference: str, report_dir: str, select: str = "") -> "Study":
        found = R.read_study_runs(from_repo(runs_dir), select)
        return cls(found.runs, R.load_reference(from_repo(reference)), from_repo(report_dir), found.problems,
                   found.duplicates, fixed_epochs=found.fixed_epochs)

    # ---- what the runs are (alexlib.report.runs) ----
    def designs(self) -> list[str]:
        return R.designs(self.runs)

    def protocol(self) -> dict[str, Any]:
        return R.protocol(self.runs, self.fixed_epochs)

    def comparable(self) -> bool:
        return R.comparable(self.protocol())

    # ---- numbers, computed once where they are slow (cells, analysis, claims) ----
    def cells(self) -> pd.DataFrame:
        return C.cells(self.runs, self.reference["table"], self.comparable())

    def design_cells(self) -> pd.DataFrame:
        return C.design_cells(self.runs)

    @functools.cached_property
    def analysis(self) -> Analysis:
        return analyze(self.runs)

    def comparisons(self) -> list[Comparison]:
        return self.analysis.comparisons

    @property
    def _batch_effects(self) -> list[dict[str, Any]]:
        return self.analysis.batch_effects

    @functools.cached_property
    def _claims(self) -> list[Claim]:
        return report_claims(self.runs, self.protocol())

    def claims(self) -> list[Claim]:
        return self._claims

    @functools.cached_property
    def headline(self) -> list[dict[str, Any]]:
        return FD.headline(self.runs)

    def findings(self) -> list[dict[str, str]]:
        return FD.findings(self.runs, self.comparisons(), self._batch_effects, self.claims(), self.headline,
                           self.comparable())

    # ---- prose (texts) ----
    def label(self, df: pd.DataFrame | None = None) -> str:
        """Data, image size, width, epochs, seeds, device and precision of the runs behind a table or figure."""
        return X.label(self.runs, df)

    def short_label(self, df: pd.DataFrame | None = None) -> str:
        return X.short_label(self.runs, df)

    def header_markdown(self) -> str:
        return X.header_markdown(self.runs, self.duplicates, self.problems)

    def protocol_line(self) -> str:
        return X.protocol_line(self.runs)

    def findings_markdown(self) -> str:
        return FD.findings_markdown(self.findings())

    def environment_table(self) -> pd.DataFrame:
        return T.environment_table(self.runs)

    def comparison_note(self) -> str:
        return X.comparison_note(self.protocol())

    def significance_note(self) -> str:
        return X.significance_note(self.comparisons())

    def designs_note(self) -> str:
        return X.designs_note(self.design_cells(), self.designs())

    def batch_effect_note(self) -> str:
        return X.batch_effect_note()

    def claims_note(self) -> str:
        return X.claims_note(self.runs, self.protocol(), self.reference, self.cells())

    def claims_markdown(self, evidence: bool = True) -> str:
        return X.claims_markdown(self.claims(), evidence)

    def verdict_rules(self) -> str:
        return X.VERDICT_RULES

    def method_markdown(self) -> str:
        return X.method_markdown()

    # ---- tables (tables) ----
    def accuracy_table(self, styled: bool = False):
        """The accuracy table; ``styled``: as the report shows it (the report's column in grey)."""
        t = T.accuracy_table(self.cells(), self.comparable())
        if not styled:
            return t
        from IPython.display import HTML
        return HTML(T.muted(t).to_html())   # an HTML object: its text form is the same on every run (nbval)

    def significance_table(self) -> pd.DataFrame:
        return T.significance_table(self.comparisons())

    def lr_table(self) -> pd.DataFrame:
        return T.lr_table(C.sweep_cells(self.runs, self.reference["sweep"]), self.comparable())

    def designs_table(self) -> pd.DataFrame:
        return T.designs_table(self.design_cells(), self.designs())

    def batch_effect_table(self) -> pd.DataFrame:
        return T.batch_effect_table(self._batch_effects)

    def power_table(self) -> pd.DataFrame:
        return T.power_table(self.claims())

    def time_table(self) -> pd.DataFrame:
        return T.time_table(self.runs)

    def problems_table(self) -> pd.DataFrame:
        return T.problems_table(self.runs, self.problems)

    # ---- figures (figures), kept by the name of their file ----
    def bar_chart(self) -> Figure:
        return self._keep("accuracy_bars", F.bar_chart(self.runs, self.cells(), self.reference["table"],
                                                       self.comparable()))

    def forest(self) -> Figure:
        return self._keep("differences", F.forest(self.runs, self.comparisons()))

    def designs_chart(self) -> Figure:
        return self._keep("designs", F.designs_chart(self.runs))

    def learning_curves(self) -> Figure:
        return self._keep("learning_curves", F.learning_curves(self.runs))

    def lr_chart(self) -> Figure:
        return self._keep("lr_sweep", F.lr_chart(self.runs, self.reference["sweep"], self.comparable()))

    shown = staticmethod(T.as_shown)   # a table as the report shows it (a one-line note as text)

    def _keep(self, name: str, fig: Figure) -> Figure:
        self.figures[name] = fig
        return fig

    # ---- output (outputs) ----
    def write(self) -> list[Path]:
        """results.csv (one row per run), cells.csv, designs.csv, every figure as PNG and summary.json,
        whichever notebook cells ran before: it draws each figure not drawn yet (the designs chart when
        the runs hold a design). A figure already drawn is written as it is: it is the one the notebook
        showed (the designs chart's dots are jittered at random, so a second drawing would differ)."""
        draw = {"accuracy_bars": self.bar_chart, "differences": self.forest, "designs": self.designs_chart,
                "learning_curves": self.learning_curves, "lr_sweep": self.lr_chart}
        if not self.designs():
            del draw["designs"]
        for name, drawing in draw.items():
            if name not in self.figures:
                drawing()
        index = summary_index(self.runs, self.protocol(), self.fixed_epochs, self.duplicates, self.problems,
                              self.analysis, self.claims(), self.headline, self.findings())
        return write_report(self.report_dir, self.runs, self.cells(), self.design_cells(), self.figures, index)
