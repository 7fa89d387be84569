"""stages.json, typed: what seeds on demand planned reads back as it was written, the committed study's file (written
before the schema had a number) reads as version 1, and a newer or broken file is refused with the reason."""
import json

import pytest

from alexlib.stages import SCHEMA, SecondStage, StagesError, read_stages, write_stages

from conftest import REPO


def test_a_stage_round_trips_and_an_absent_file_is_one_stage(tmp_path):
    st = SecondStage(planned_at="2026-12-03T10:00:00Z", budget="1h", cap=20, rule="r", claims=["6"],
                     cells=[["bn", 8], ["lr", 0.01]], seeds="3–15", runs=["a", "b"], planned_seconds=60.0,
                     executor={"type": "slurm"})
    assert read_stages(tmp_path) == []
    write_stages(tmp_path, [st])
    assert json.loads((tmp_path / "stages.json").read_text())["schema"] == SCHEMA
    assert read_stages(tmp_path) == [st]


def test_the_committed_studys_file_reads_as_version_1_with_every_field():
    (st,) = read_stages(REPO / "reports" / "fashion" / "records")
    raw = json.loads((REPO / "reports" / "fashion" / "records" / "stages.json").read_text())["stages"][0]
    assert "schema" not in json.loads((REPO / "reports" / "fashion" / "records" / "stages.json").read_text())
    assert len(st.runs) == 84 and st.budget == "1h" and st.claims == ["6", "3", "5"]
    assert st.to_json() == raw   # nothing lost or added in reading


def test_a_newer_or_broken_file_is_refused_saying_why(tmp_path):
    (tmp_path / "stages.json").write_text(json.dumps({"schema": SCHEMA + 1, "stages": []}))
    with pytest.raises(StagesError, match="newer alexlib"):
        read_stages(tmp_path)
    (tmp_path / "stages.json").write_text("{not json")
    with pytest.raises(StagesError, match="cannot be read"):
        read_stages(tmp_path)
    (tmp_path / "stages.json").write_text(json.dumps({"stages": [{"runs": "a"}]}))
    with pytest.raises(StagesError, match="in a list"):
        read_stages(tmp_path)
