"""The report's look in one module: the page's CSS prints A4 and keeps figures and tables whole, and every wide
table's columns fill the page."""
from alexlib.report.render import style


def test_the_page_is_a4_and_figures_and_tables_do_not_split():
    assert "size: A4" in style.REPORT_CSS and "break-inside: avoid" in style.REPORT_CSS
    assert style.REPORT_CSS.startswith("<style>") and style.REPORT_CSS.endswith("</style>")


def test_every_wide_table_fills_the_page():
    assert style.WIDTHS and all(sum(w) == 100 for w in style.WIDTHS.values())
    assert 5 < style.PAGE_WIDTH < 9   # inches: the A4 text width at the page's margins
