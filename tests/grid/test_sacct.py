"""What SLURM says, read from its commands' own output: sacct's states (a cancelled array task that never
started is known to neither sacct nor squeue, and is said to be cancelled), squeue for jobs not yet in
accounting, and sbatch options for submitit. SLURM's commands are stood in by scripts on PATH."""
import os
import stat

import pytest

from alexlib.grid import sacct as SA


def fake_commands(folder, sacct_out: str, squeue_out: str = "", squeue_rc: int = 0):
    folder.mkdir(parents=True, exist_ok=True)
    for name, out, rc in (("sacct", sacct_out, 0), ("squeue", squeue_out, squeue_rc)):
        p = folder / name
        p.write_text(f"#!/bin/sh\ncat <<'END'\n{out}END\nexit {rc}\n")
        p.chmod(p.stat().st_mode | stat.S_IEXEC)


def test_states_come_from_sacct_then_squeue_and_a_forgotten_pending_task_was_cancelled(tmp_path, monkeypatch):
    fake_commands(tmp_path / "bin", "JobID|State|NodeList|ExitCode\n12_0|COMPLETED|n1|0:0\n"
                                    "12_1|CANCELLED by 0|n1|0:15\n", "12_3|PENDING|\n")
    monkeypatch.setenv("PATH", f"{tmp_path / 'bin'}{os.pathsep}{os.environ['PATH']}")
    got = SA.job_states(["12_0", "12_1", "12_2", "12_3"])
    assert {k: v["State"] for k, v in got.items()} == {"12_0": "COMPLETED", "12_1": "CANCELLED",
                                                      "12_2": "CANCELLED", "12_3": "PENDING"}
    assert "no accounting record" in got["12_2"]["Note"]


def test_a_controller_that_does_not_answer_leaves_the_state_unknown(tmp_path, monkeypatch):
    fake_commands(tmp_path / "bin", "JobID|State|NodeList|ExitCode\n", "", squeue_rc=1)
    monkeypatch.setenv("PATH", f"{tmp_path / 'bin'}{os.pathsep}{os.environ['PATH']}")
    assert SA.job_states(["7_0"])["7_0"]["State"] == "UNKNOWN"


def test_sbatch_options_become_submitits_mapping():
    assert SA.sbatch_options("--constraint=h100 --exclusive") == {"constraint": "h100", "exclusive": True}
    assert SA.sbatch_options("") == {}
    with pytest.raises(SA.SlurmError, match="long sbatch options such as --constraint=h100, got '-x'"):
        SA.sbatch_options("-x node1")
