"""inference layer of the report (see alexlib.report)."""
