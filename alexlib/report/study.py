"""The summary notebook's one object: ``Study.load`` reads a runs folder, and each method hands the runs to the
module that does the job, so the notebook reads as the report and the work reads as a pipeline:

    runs (one protocol, designs, stages) -> cells, learning (flags, convergence) -> analysis (claims part by
    part, comparisons, batch effects) -> front page, findings, texts, tables, figures -> export (files)

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
from ..stages import SecondStage, grown_cells
from .domain import against, cells, learning, records, reencoding, registration, runs, smallbatch
from .domain.analysis import Analysis, analyze
from .domain.claims import BATCH_MARGIN
from .render import figures, findings, front, style, tables, texts, why
from .render.export import summary_index, write_report
from .render.typeset import Typeset


@dataclass
class Study(Typeset):
    """One runs folder read for the report: the runs table, what was set aside, the report's numbers, the
    second stages, and the figures drawn so far."""
    runs: pd.DataFrame
    reference: dict[str, Any]
    report_dir: Path
    problems: list[dict[str, str]] = field(default_factory=list)
    duplicates: int = 0
    figures: dict[str, Figure] = field(default_factory=dict)   # file stem -> the figure last drawn
    fixed_epochs: int = 0   # the epochs of the report's design (fixed epochs and lr) in these runs
    stages: list[SecondStage] = field(default_factory=list)
    committed: records.Loaded | None = None   # the committed study this run is checked against (--against)

    @classmethod
    def load(cls, runs_dir: str, reference: str, report_dir: str, select: str = "", against: str = "") -> "Study":
        found = records.read_study_runs(from_repo(runs_dir), select)
        then = records.read_study_runs(from_repo(against), select) if against else None
        return cls(found.runs, records.load_reference(from_repo(reference)), from_repo(report_dir), found.problems,
                   found.duplicates, fixed_epochs=found.fixed_epochs, stages=found.stages, committed=then)

    # ---- what the runs are, and the numbers (computed once) ----
    def designs(self) -> list[str]:
        return runs.designs(self.runs)
    def protocol(self) -> dict[str, Any]:
        return runs.protocol(self.runs, self.fixed_epochs)

    def comparable(self) -> bool:
        return runs.comparable(self.protocol())

    @functools.cached_property
    def cells(self) -> pd.DataFrame:
        return cells.cells(self.runs, self.reference["table"], self.comparable())

    @functools.cached_property
    def analysis(self) -> Analysis:
        return analyze(self.runs, self.protocol())

    @functools.cached_property
    def flags(self) -> dict[tuple[str, int], list[str]]:
        return learning.cell_flags(self.runs)

    @functools.cached_property
    def lr_flags(self) -> dict[float, list[str]]:
        return learning.sweep_flags(self.runs)

    def claims(self):   # the claims, judged (analysis.claims)
        return self.analysis.claims

    @functools.cached_property
    def against(self) -> against.Against | None:
        """This study checked against the committed one (None when no committed study was given)."""
        if self.committed is None:
            return None
        then = self.committed
        return against.compare(self.runs, then.runs, self.claims(),
                          analyze(then.runs, runs.protocol(then.runs, then.fixed_epochs)).claims)

    def against_markdown(self) -> str:
        return texts.against_markdown(self.against) if self.against is not None else ""
    def against_table(self) -> pd.DataFrame:
        return tables.against_table(self.against)

    def against_environments(self, styled: bool = False):
        t = self.against.environments
        return _wide(t, style.WIDTHS["against_environments"]) if styled else t

    def findings(self) -> list[dict[str, str]]:
        return findings.findings(self.runs, self.analysis, self.flags, self.lr_flags, self.comparable(), self.cells,
                                 self.small.checks, self.small.arm, self.numbering.see, self.small.arms)

    def sweep_cells(self) -> pd.DataFrame:
        return cells.sweep_cells(self.runs, self.reference["sweep"])

    # ---- small batches: where BN's loss lies ----
    @functools.cached_property
    def small(self) -> smallbatch.SmallBatch:
        return smallbatch.analyze(self.runs, int(self.protocol()["image_size"]))

    def small_batch_markdown(self) -> str:
        return why.small_batch_markdown(self.small, self.protocol(), self.numbering.caption)

    # ---- page 1 ----
    def protocol_table(self, styled: bool = False):
        t = front.protocol_table(self.runs, self.stages)
        return _wide(t, style.WIDTHS["protocol"]) if styled else t

    def reproduced_table(self, styled: bool = False, source: str = "report"):
        """Page 1's claims of one source (``claims.SOURCES``): the report's, or the Group Normalization paper's."""
        t = front.reproduced_table(self.claims(), self.cells, self.sweep_cells(), self.flags, self.lr_flags, source,
                                   front.is_demo(self.protocol()), (self.analysis.paper_design, self.analysis.design_cells))
        return _wide(t, style.WIDTHS["reproduced" if len(t.columns) == 3 else "reproduced_designs"]) if styled else t

    def findings_markdown(self) -> str:
        return findings.findings_markdown(self.findings())

    # ---- the sections ----
    def across_table(self, styled: bool = False):   # this study's verdicts beside every committed study's
        t = front.across_studies(self.claims(), self.protocol(), from_repo("reports"))
        studies = len(t.columns)
        return _wide(t, [40] + [60 // studies] * studies) if styled else t

    @functools.cached_property
    def reencoding(self) -> pd.DataFrame:   # what re-encoding as JPEG changes, where this study's data is a JPEG copy
        return reencoding.arm_effect(str(self.protocol()["dataset"]))

    def reencoding_table(self, styled: bool = False):
        t = tables.reencoding_table(self.reencoding, BATCH_MARGIN)
        return _wide(t, style.WIDTHS["reencoding"]) if styled else t

    def banner(self) -> str:   # page 1's opening: a demo, the plain findings, the registration, the one level
        return front.banner(self.protocol(), registration.for_protocol(self.protocol()), list(self.runs.updated_at),
                            front.headlines(self.claims(), self.flags, self.numbering.see, self.analysis.paper_design))

    def accuracy_note(self) -> str:
        return texts.comparison_note(self.protocol(), self.numbering.ref("protocol")) + " " + tables.FLAG_RULES

    def accuracy_table(self, styled: bool = False):   # styled: the report's column in grey, wrapping to fit the page
        t = tables.accuracy_table(self.cells, self.comparable(), self.flags)
        return _html(tables.muted(t).set_table_attributes('class="wide"').to_html()) if styled else t

    def claims_note(self) -> str:
        return texts.claims_note(self.runs, self.protocol(), self.reference, self.cells)

    def convergence_table(self) -> pd.DataFrame:
        return tables.convergence_table(learning.convergence(self.runs))

    def batch_markdown(self) -> str:
        """The answer in plain sentences with their numbers, then each design in a line."""
        return findings.batch_sentences(self.analysis, self.runs) + "\n\n" + texts.designs_note(cells.design_cells(self.runs),
                                                                                      self.designs())

    def batch_effect_table(self) -> pd.DataFrame:
        return tables.batch_effect_table(self.analysis.batch_effects)

    def lr_table(self) -> pd.DataFrame:
        return tables.lr_table(self.sweep_cells(), self.comparable(), self.lr_flags)

    def stages_markdown(self) -> str:
        return texts.stages_markdown(self.runs, self.stages, self.claims())

    def plan_table(self) -> pd.DataFrame:
        return tables.plan_table(self.claims(), self.near_chance(), grown_cells(self.stages))

    def near_chance(self) -> set[tuple]:   # the cells near chance, the sweep's as ("lr", lr)
        return learning.near_chance_cells(self.flags, self.lr_flags)

    method_markdown = staticmethod(texts.method_markdown)   # docs/STATISTICS.md, as Appendix C

    def header_markdown(self) -> str:
        return texts.header_markdown(self.runs, self.duplicates, self.problems)

    def environment_table(self, styled: bool = False):
        t = tables.environment_table(self.runs)
        return _wide(t, style.WIDTHS["environment"]) if styled else t

    def time_table(self) -> pd.DataFrame:
        return tables.time_table(self.runs)

    def problems_table(self) -> pd.DataFrame:
        return tables.problems_table(self.runs, self.problems)

    shown = staticmethod(tables.as_shown)   # a table as the report shows it (a one-line note as text)

    # ---- figures, kept by the name of their file ----
    def bar_chart(self) -> Figure:
        return self._keep("accuracy_bars", figures.bar_chart(self.runs, self.cells, self.reference["table"],
                                                       self.comparable(), learning.chance(self.runs)))

    def accuracy_vs_batch(self) -> Figure:
        return self._keep("accuracy_vs_batch", figures.accuracy_vs_batch(
            self.runs, self.cells, self.reference["table"], self.comparable(), learning.chance(self.runs),
            self.analysis.design_cells))

    def forest(self) -> Figure:
        return self._keep("differences", figures.forest(self.runs, self.analysis.comparisons))

    def learning_curves(self) -> Figure:
        return self._keep("learning_curves", figures.learning_curves(self.runs))

    def _keep(self, name: str, fig: Figure) -> Figure:
        self.figures[name] = fig
        return fig

    # ---- output ----
    def write(self) -> list[Path]:
        """results.csv (one row per run), cells.csv, designs.csv, every figure as PNG and summary.json,
        whichever notebook cells ran before: it draws each figure not drawn yet (the designs chart when the runs
        hold a design). A figure already drawn is written as it is: it is the one the notebook showed."""
        draw = {"accuracy_bars": self.bar_chart, "accuracy_vs_batch": self.accuracy_vs_batch,
                "differences": self.forest, "learning_curves": self.learning_curves}
        shows = {"designs": len(self.designs()) > 1, "accuracy_vs_batch": self.small.present}   # as the report does
        for name, drawing in draw.items():
            if name not in self.figures and shows.get(name, True):
                drawing()
        index = summary_index(self.runs, self.protocol(), self.fixed_epochs, self.duplicates, self.problems,
                              self.analysis, self.findings(), findings.flags_index(self.flags, self.lr_flags),
                              learning.convergence(self.runs), self.stages,
                              self.against.summary() if self.against is not None else None,
                              self.small.summary())
        return write_report(self.report_dir, self.runs, self.cells, cells.design_cells(self.runs), self.figures, index)


def _wide(t: pd.DataFrame, widths: list[int]):
    """A wide table as the report shows it: its columns at these widths."""
    return _html(tables.wide_html(t, widths))


def _html(text: str):
    from IPython.display import HTML
    return HTML(text)
