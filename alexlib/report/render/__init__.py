"""render layer of the report (see alexlib.report)."""
