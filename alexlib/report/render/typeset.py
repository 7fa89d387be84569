"""The report as a technical report: which figures and tables a study's report shows and their numbers, their
captions, and the References read from the report's text. A mixin of ``Study`` (it reads the study's runs, claims
and tables through the study's own methods), so the facade stays a list of what the notebook calls."""
from __future__ import annotations

import functools

import pandas as pd

from ..domain import reencoding
from ..domain.claims import claim_spec
from . import captions, references, tables, texts
from .numbering import Float, Numbering, outline


class Typeset:
    """Numbers, captions and references for a ``Study``."""

    @functools.cached_property
    def numbering(self) -> Numbering:
        """The numbers of the figures and tables this study's report shows (``numbering.ORDER``)."""
        small = self.small
        shown = {"protocol", "claims_report", "across", "accuracy_bars", "accuracy", "differences", "convergence",
                 "learning_curves", "environment", "time"}
        shown |= {"claims_paper", "accuracy_vs_batch"} if small.present else set()
        shown |= {k for k, t in (("small_values", small.values), ("small_checks", small.checks),
                                 ("small_arm", small.arm), ("small_norm_arms", small.arms),
                                 ("small_signals", small.signals))
                   if small.present and not t.empty}
        shown |= {k for k, t in (("lr_sweep", self.lr_table()), ("plan", self.plan_table()),
                                 ("batch_effects", self.batch_effect_table()),
                                 ("problems", self.problems_table())) if tables.is_table(t)}
        shown |= {"against", "against_environments"} if self.committed is not None else set()
        shown |= {"reencoding"} if not self.reencoding.empty else set()
        return Numbering(outline(shown, [c.id for c in self.shown_claims()]))

    def caption(self, key: str) -> str:
        """The numbered caption of figure or table ``key`` (markdown)."""
        if key.startswith("claim:"):
            c = next(c for c in self.claims() if c.id == key[6:])
            text = captions.claim_caption(texts.claim_heading(c), self.runs, c)
        elif key in ("claims_report", "claims_paper"):
            source = {"claims_report": "report", "claims_paper": "gn_paper"}[key]   # claims.SOURCES' keys
            text = captions.claims_caption(source, self.runs, self.shown_claims(source))
        elif key == "reencoding":
            text = captions.table_caption(key, reencoding.arm_runs(str(self.protocol()["dataset"])))
        elif key in ("accuracy_bars", "accuracy_vs_batch", "differences", "learning_curves"):
            text = captions.figure_caption(key, self.runs)
        else:
            text = captions.table_caption(key, self.runs, self.analysis.batch_effects, self.claims())
        return self.numbering.caption(key, text)

    def float(self, key: str, body) -> Float:
        """Figure or table ``key`` with its numbered caption, as the notebook shows it."""
        return Float(self.caption(key), body)

    def shows(self, key: str) -> bool:
        return key in self.numbering.numbers

    def references(self):
        """The References section: each work the report's text cites (``references.REFERENCES``), as HTML."""
        from IPython.display import HTML
        return HTML(references.references_html(self.prose()))

    def prose(self) -> str:
        """Every text this study's report shows, its tables' cells included (what the References list is read
        from); the captions are those handed out so far, with every other float's."""
        for key in self.numbering.numbers:
            if key not in self.numbering.handed and not key.startswith("small_"):
                self.caption(key)
        parts = [self.findings_markdown(), self.claims_note(), self.batch_markdown(), self.method_markdown(),
                 self.stages_markdown(), self.protocol_table().to_string(), self.reproduced_table().to_string(),
                 *self.numbering.handed.values()]
        if self.small.present:
            parts += [self.small_batch_markdown(), self.reproduced_table(source="gn_paper").to_string()]
        return "\n".join(parts)

    def part_table(self, claim) -> pd.DataFrame:
        return tables.part_rows(claim.parts)

    def shown_claims(self, source: str = "") -> list:
        """The claims the report shows (the paper's only where the study ran batch sizes below the report's), of
        ``source`` or all."""
        return [c for c in self.claims() if (self.small.present or claim_spec(c.id).source == "report")
                and source in ("", claim_spec(c.id).source)]
