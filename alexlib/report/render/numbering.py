"""Figure and table numbers in one place. ``ORDER`` lists the report's figures and tables by key in the order the
summary notebook shows them; the study says which of them it shows (``Numbering(shown)``), and those are numbered
1, 2, 3... in each kind. A finding names a figure or table by its key and gets its number (``ref``), before or after
it is shown; ``caption`` hands out the numbered caption as the document is assembled, so a number in the text and
the one beside the figure come from one list.
"""
from __future__ import annotations

FIGURE, TABLE = "Figure", "Table"

# (kind, key) in the notebook's order; "claim:*" stands for each claim's table, in the claims' order
ORDER: tuple[tuple[str, str], ...] = (
    (TABLE, "claims_report"), (TABLE, "claims_paper"), (TABLE, "across"), (FIGURE, "accuracy_vs_batch"),
    (FIGURE, "accuracy_bars"), (TABLE, "accuracy"), (TABLE, "claim:*"),
    (FIGURE, "differences"), (TABLE, "convergence"), (FIGURE, "learning_curves"),
    (TABLE, "small_values"), (TABLE, "small_checks"), (TABLE, "small_arm"), (TABLE, "small_norm_arms"),
    (TABLE, "small_signals"),
    (TABLE, "lr_sweep"),
    (TABLE, "plan"), (TABLE, "batch_effects"), (TABLE, "protocol"), (TABLE, "reencoding"), (TABLE, "against"),
    (TABLE, "against_environments"),
    (TABLE, "environment"), (TABLE, "time"), (TABLE, "problems"),
)


def outline(shown: set[str], claims: list[str] = ()) -> list[tuple[str, str]]:
    """The (kind, key) of each figure and table ``shown``, in order; ``claims``: the ids of the claims whose tables
    are shown (keys ``claim:<id>``)."""
    out = []
    for kind, key in ORDER:
        if key == "claim:*":
            out += [(kind, f"claim:{c}") for c in claims]
        elif key in shown:
            out.append((kind, key))
    return out


class Numbering:
    """The numbers of the floats in ``floats`` ((kind, key), in the order shown)."""

    def __init__(self, floats: list[tuple[str, str]]):
        self.floats = list(floats)
        self.numbers: dict[str, str] = {}
        counts: dict[str, int] = {}
        for kind, key in self.floats:
            if key in self.numbers:
                raise ValueError(f"{key!r} is listed twice")
            counts[kind] = counts.get(kind, 0) + 1
            self.numbers[key] = f"{kind} {counts[kind]}"
        self.handed: dict[str, str] = {}   # key -> the caption's text, as handed out

    def ref(self, key: str) -> str:
        """'Figure 2' for the figure whose key is ``key``; a key this report does not show is an error."""
        if key not in self.numbers:
            raise KeyError(f"no figure or table {key!r} in this report; it shows {', '.join(self.numbers) or 'none'}")
        return self.numbers[key]

    def caption(self, key: str, text: str) -> str:
        """The caption '**Figure 2.** text' (the order the numbers assume is held by the tests on the report)."""
        number = self.ref(key)
        self.handed[key] = text
        return f"**{number}.** {text}"

    def see(self, *keys: str) -> str:
        """'(Figure 3; Tables 4 and 5)': the numbers of those of ``keys`` this report shows ('' when none is)."""
        by: dict[str, list[int]] = {}
        for k in keys:
            if k in self.numbers:
                kind, n = self.numbers[k].split()
                by.setdefault(kind, []).append(int(n))
        bits = []
        for kind, ns in by.items():
            ns = sorted(set(ns))
            if len(ns) == 1:
                bits.append(f"{kind} {ns[0]}")
            elif len(ns) > 2 and ns == list(range(ns[0], ns[-1] + 1)):
                bits.append(f"{kind}s {ns[0]}–{ns[-1]}")
            else:
                bits.append(f"{kind}s {', '.join(map(str, ns[:-1]))} and {ns[-1]}")
        return f"({'; '.join(bits)})" if bits else ""


class Float:
    """A figure or table with its numbered caption, kept on one page: the caption above a table, below a figure.
    ``body``: a matplotlib figure, a DataFrame, or an object with an HTML form (a styled table)."""

    def __init__(self, caption: str, body):
        self.caption, self.body = caption, body

    def _repr_html_(self) -> str:
        import re
        cap = re.sub(r"\*\*(.+?)\*\*", r"<b>\1</b>", self.caption)
        cap = re.sub(r"(?<![*\w])\*(?!\s)(.+?)\*", r"<i>\1</i>", cap)
        cap = f'<p class="caption">{cap}</p>'
        if hasattr(self.body, "savefig"):
            import base64

            from IPython.core.pylabtools import print_figure
            png = base64.b64encode(print_figure(self.body, "png")).decode()
            return f'<div class="float figure"><img src="data:image/png;base64,{png}"/>{cap}</div>'
        html = self.body._repr_html_() if hasattr(self.body, "_repr_html_") else self.body.data
        return f'<div class="float">{cap}{html}</div>'

    def __repr__(self) -> str:   # the text form nbval compares: the caption, and a table's cells
        body = "" if hasattr(self.body, "savefig") else "\n" + (
            self.body.to_string() if hasattr(self.body, "to_string") else str(getattr(self.body, "data", "")))
        return self.caption + body
