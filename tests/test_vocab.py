"""The study's vocabulary: the protocol's fields are run parameters, statuses rank finished runs first, and
durations print as the report prints them."""

from alexlib import vocab as V
from alexlib.train.config import RunConfig


def test_the_protocol_and_the_reports_protocol_name_run_parameters():
    fields = set(RunConfig.field_names())
    assert set(V.PROTOCOL) <= fields and set(V.REPORT_PROTOCOL) <= fields
    assert set(RunConfig().result_key()) >= set(V.PROTOCOL)


def test_statuses_rank_finished_runs_first():
    assert set(V.FINISHED) == {s for s, r in V.STATUS_RANK.items() if r < 2}


def test_durations_print_as_the_report_prints_them():
    assert V.fmt_time(65) == "1m05s" and V.fmt_time(3725) == "1h02m"
