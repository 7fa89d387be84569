"""Reading the records into the runs table (alexlib.report.domain.records): malformed files kept in view, a
copied run counted once, a run that never trained set aside, --select's form."""
import json
import shutil

import pytest

import alexlib.train.run.loop as T
from alexlib.report.domain.records import load_runs, parse_select
from alexlib.report.domain.runs import ProtocolError
from alexlib.report.study import Study

from conftest import fake_run, study, tiny


@pytest.fixture(scope="module")
def trained_once(tmp_path_factory):
    out = tmp_path_factory.mktemp("trained") / "good"
    T.train(tiny(out.parent, out_dir=str(out)))
    return out


# --------------------------------------------------------------------------------------------------
# one protocol, each run once
# --------------------------------------------------------------------------------------------------
def test_a_run_that_failed_before_training_is_a_problem_not_a_protocol(tmp_path):
    """A CIFAR-10 run that found no CIFAR-10, beside a digits grid: listed as a problem, the report goes on."""
    for seed in (0, 1):
        fake_run(tmp_path / "runs", norm="bn", seed=seed, acc=90.0)
    failed = fake_run(tmp_path / "runs", norm="bn", dataset="cifar10", image_size=224, width=1.0, status="failed")
    m = json.loads((failed / "metrics.json").read_text())
    (failed / "metrics.json").write_text(json.dumps(m | {"history": [], "error": "DataError: CIFAR-10 is not usable"}))
    s = study(tmp_path)
    assert s.cells[["n_completed", "n_failed"]].values.tolist() == [[2, 0]]
    assert [p["file"] for p in s.problems] == [f"{failed.name}/metrics.json"]
    assert "failed before training" in s.problems[0]["problem"] and "CIFAR-10 is not usable" in s.problems[0]["problem"]


def test_a_copied_run_folder_counts_once(tmp_path):
    a = fake_run(tmp_path / "runs", norm="bn", seed=0, acc=80.0)
    fake_run(tmp_path / "runs", norm="bn", seed=1, acc=70.0)
    shutil.copytree(a, tmp_path / "runs" / "backup" / a.name)
    df, problems, dups = load_runs(tmp_path / "runs")
    assert len(df) == 2 and dups == 1 and not problems
    s = study(tmp_path)
    assert s.cells.n_completed[0] == 2 and s.cells["mean"][0] == 75.0
    assert "1 run folder held a run already counted" in s.header_markdown()


def test_select_takes_field_value_pairs_of_known_fields():
    assert parse_select("dataset=digits, epochs=4") == {"dataset": "digits", "epochs": 4}
    assert parse_select("") == {}
    with pytest.raises(ProtocolError, match="field=value pairs"):
        parse_select("digits")
    with pytest.raises(ProtocolError, match="unknown field 'colour'"):
        parse_select("colour=red")


@pytest.mark.parametrize("content", [b"{not json", b"\xff\xfe\x00garbage", b'{"status": "completed"}',
                                     b'{"config": {"norm": "bn"}, "status": 5}', b"[]"])
def test_the_summary_reports_malformed_metrics_instead_of_crashing(tmp_path, content, trained_once):
    shutil.copytree(trained_once, tmp_path / "runs" / "good")   # a record as train() writes it, trained once
    good = json.loads((tmp_path / "runs" / "good" / "metrics.json").read_text())
    bad = tmp_path / "runs" / "bad"
    bad.mkdir()
    (bad / "metrics.json").write_bytes(content)
    df, problems, _ = load_runs(tmp_path / "runs")
    assert len(df) == 1 and df.iloc[0].status == good["status"]
    assert len(problems) == 1 and problems[0]["file"].endswith("bad/metrics.json")
    study = Study.load(str(tmp_path / "runs"), "params/reference.yaml", str(tmp_path / "rep"))
    assert "unreadable" in set(study.problems_table().status)
