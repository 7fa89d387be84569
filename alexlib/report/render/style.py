"""The report's look in one place: the page (CSS for the HTML and the PDF), the widths of its wide tables, the
figures' width and the report's own colour. A norm's colour is the norm's (``alexlib.train.net.norms``)."""
from __future__ import annotations

# The report's page: A4 for the PDF, a readable column on a screen, tables that never wrap inside a number
REPORT_CSS = """<style>
@page { size: A4; margin: 12mm 12mm 12mm 12mm; }
body { max-width: 62rem; margin: 0 auto; }
.jp-RenderedHTMLCommon table, .jp-RenderedHTML table { font-size: 0.8rem; margin-left: 0; }
.jp-RenderedHTMLCommon td, .jp-RenderedHTMLCommon th { white-space: nowrap; padding: 0.2em 0.55em; }
.jp-RenderedHTMLCommon table.wide { width: 100%; table-layout: fixed; }
.jp-RenderedHTMLCommon table.wide td, .jp-RenderedHTMLCommon table.wide th { white-space: normal;
  text-align: left; vertical-align: top; overflow-wrap: break-word; }
.jp-RenderedImage img, .jp-OutputArea-output img { max-width: 100%; height: auto; }
h2 { break-after: avoid; page-break-after: avoid; margin-top: 1.4em; }
.jp-RenderedHTMLCommon li { margin-bottom: 0.35em; }
.float { margin: 0.3em 0 0.6em; }   /* a caption stays with its table or figure: */
.float p.caption:first-child, .float img { break-after: avoid; page-break-after: avoid; }
.float img { max-width: 100%; height: auto; display: block; }
.jp-RenderedHTMLCommon p.caption { font-size: 0.85rem; margin: 0.15em 0 0.3em; }
.jp-RenderedHTMLCommon ul.references { columns: 2; column-gap: 1.5em; font-size: 0.8rem; padding-left: 1.2em; }
.jp-RenderedHTMLCommon ul.references li { margin-bottom: 0.2em; break-inside: avoid; }
@media print {
  .jp-Cell, .jp-Cell-outputWrapper, .jp-OutputArea, .jp-OutputArea-child, .jp-OutputArea-child .jp-OutputArea-output,
  .jp-OutputArea-output { display: block !important; overflow: visible !important; }
  .jp-OutputArea-child { break-inside: auto !important; }   /* long text splits across pages */
  .jp-RenderedImage { break-inside: avoid; }   /* figures do not split; a long table does, between rows */
  .jp-RenderedHTMLCommon tr { break-inside: avoid; }
  body { max-width: none; font-size: 9pt; } .jp-RenderedHTMLCommon table { font-size: 7.5pt; }
  .jp-RenderedHTMLCommon table.wide { font-size: 7pt; line-height: 1.2; }   /* page 1's ledgers fit page 1 */
  .jp-RenderedHTMLCommon { font-size: 9pt !important; line-height: 1.28 !important; }   /* Lab's 14 px is screen size */
  .jp-RenderedHTMLCommon li { margin-bottom: 0.15em; } .jp-RenderedHTMLCommon p { margin-bottom: 0.45em; }
  .jp-RenderedHTMLCommon table { max-width: 100%; }   /* on paper a table wraps its cells rather than leave */
  .jp-RenderedHTMLCommon td, .jp-RenderedHTMLCommon th { white-space: normal; }   /* the page (numbers: NBSP) */
  .jp-RenderedHTMLCommon p.caption, .jp-RenderedHTMLCommon ul.references { font-size: 7.5pt; }
  .jp-RenderedHTMLCommon h1 { font-size: 15pt !important; margin: 0 0 0.4em !important; }
  .jp-RenderedHTMLCommon h2 { font-size: 12pt !important; margin: 0.6em 0 0.25em !important; }
  .jp-RenderedHTMLCommon h3, .jp-RenderedHTMLCommon h4 { font-size: 10.5pt !important; } }
</style>"""

PAGE_WIDTH = 7.5          # inches: a figure this wide fills the PDF's text width at its natural size
REPORT_COLOR = "#000000"  # the report's single run, in every figure

# Column widths (% of the page) of the tables set across the page, by table
WIDTHS = {
    "protocol": [22, 39, 39],                 # page 1: what, the report, here
    "reproduced": [25, 19, 19, 37],           # page 1: claim, the report, here, verdict
    "reproduced_designs": [22, 16, 16, 26, 20],   # ... a verdict in the report's design, one in the source's
    "environment": [18, 82],                  # field, values
    "against_environments": [18, 41, 41],     # field, here, committed
    "reencoding": [15, 7, 10, 11, 23, 34],    # cell, seeds, original, re-encoded, difference, what it says
}
