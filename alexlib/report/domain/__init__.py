"""domain layer of the report (see alexlib.report)."""
