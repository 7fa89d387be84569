"""Where the SLURM executor's jobs run: its stand-in, submitit's local executor, takes the same path as SLURM
(a pickled Checkpointable per run, records read back, states in sacct's words) on this machine."""
from alexlib.grid import plan as P
from alexlib.grid import slurm as S
from alexlib.grid.executor import run_plan
from alexlib.grid.jobs import LocalJobs, SlurmJobs

from conftest import grid_file, records


def test_local_executor_runs_the_notebook_in_a_job(tmp_path):
    """The same path as on SLURM (a pickled Checkpointable per run, records read back) on this machine."""
    out = tmp_path / "runs"
    plan = P.load_grid(grid_file(tmp_path, runs=1), out)
    lines = []
    outcome = run_plan(plan, out, S.SlurmExecutor(S.parse_options(), LocalJobs(), poll_s=0.5), log=lines.append)
    assert outcome["completed"] == [plan.runs[0].run_id()], lines
    m = records(out)[plan.runs[0].run_id()]
    assert m["status"] == "completed" and "slurm" not in m["env"] and m["config"]["threads"] == 1
    assert any(line.startswith("[  1/1] completed") for line in lines)


def test_no_wait_needs_jobs_that_outlive_the_grid():
    import pytest
    with pytest.raises(S.SlurmError, match="--no-wait needs SLURM: jobs submitit locally end with this process"):
        S.SlurmExecutor(S.parse_options(), LocalJobs(), wait=False)
    assert S.SlurmExecutor(S.parse_options(), SlurmJobs(), wait=False).waits is False


def test_the_stand_in_words_submitit_states_as_sacct_does():
    class Job:
        def __init__(self, state):
            self.state = state
    jobs = {"a": Job("FINISHED"), "b": Job("INTERRUPTED"), "c": Job("RUNNING"), "d": Job("FAILED")}
    states = LocalJobs().states({rid: f"j{rid}" for rid in jobs}, jobs)
    assert {k: v["State"] for k, v in states.items()} == {"ja": "COMPLETED", "jb": "CANCELLED", "jc": "RUNNING",
                                                          "jd": "FAILED"}
