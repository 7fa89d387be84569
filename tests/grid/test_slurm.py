"""The grid on SLURM: settings and errors through submitit's local executor (no SLURM needed), then a
small grid, cancellation, --no-wait, preemption and GPU placement against a real single-node SLURM
(`make slurm-up`; .ci/run starts it). Without one these skip with the reason, except in CI (CI=true)."""
import json
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml
from test_watchdog import _gone

from alexlib.grid import command as G
from alexlib.grid import plan as P
from alexlib.grid import slurm as S
from alexlib.grid.executor import run_plan
from alexlib.grid.jobs import LocalJobs
from alexlib.grid.sacct import job_states, sbatch_options
from alexlib.train.run.loop import train

from conftest import REPO, TINY, Hold, grid_file, need, records

# Four runs in two grids, as many as the node's four CPUs run at once (so runs overlap and each sees its own GPU);
# seconds each: kernel start dominates
FOUR = {"base": {**{k: v for k, v in TINY.items() if k != "progress"}, "epochs": 1, "train_size": 64,
                 "test_size": 32},
        "grids": [{"name": "norm_x_batch", "norm": ["none", "bn"], "batch_size": [16]},
                  {"name": "lr_sweep", "norm": "none", "batch_size": 32, "lr": [0.01, 0.02]}]}


def grid(*args, **kw) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "alexlib.grid", *map(str, args)], cwd=REPO, capture_output=True,
                          text=True, **kw)


# ---------------------------------------------------------------------------------------------------
# Settings and errors: no SLURM needed
# ---------------------------------------------------------------------------------------------------
def test_unknown_option_names_it_and_the_allowed_ones():
    with pytest.raises(S.SlurmError, match=r"--slurm: unknown SLURM option\(s\) 'partion'; known SLURM options: "
                                           r"partition, gpus"):
        S.parse_options(None, {"partion": "gpu"})
    with pytest.raises(S.SlurmError, match="the grid file's executor block: unknown SLURM option.s. 'nodes'"):
        S.parse_options({"nodes": 2})


def test_missing_partition_name_and_bad_values():
    with pytest.raises(S.SlurmError, match=r"partition= needs a partition name .*sinfo -s"):
        S.parse_options(None, {"partition": ""})
    with pytest.raises(S.SlurmError, match="time takes a whole number, got 'soon'"):
        S.parse_options(None, {"time": "soon"})
    with pytest.raises(S.SlurmError, match="cpus must be at least 1, got 0"):
        S.parse_options({"cpus": 0})
    with pytest.raises(S.SlurmError, match="long sbatch options such as --constraint=h100, got '-x'"):
        S.parse_options(None, {"sbatch": "-x node1"})


def test_command_line_wins_over_the_grid_file(tmp_path):
    block = P.load_grid(grid_file(tmp_path, executor={"type": "slurm", "partition": "a", "time": 30})).executor
    opts = S.parse_options(block, {"partition": "b", "sbatch": "--constraint=h100 --exclusive"})
    assert (opts["partition"], opts["time"], opts["cpus"]) == ("b", 30, 1)
    assert sbatch_options(opts["sbatch"]) == {"constraint": "h100", "exclusive": True}


def test_cli_errors_exit_2_with_the_message(tmp_path, capsys):
    """Through the real command line once (its exit status and stderr), the other errors through its main() in this
    process (the same parser and messages, without a Python start and the grid's imports each)."""
    g = grid_file(tmp_path)
    r = grid(g, "--out", tmp_path / "o", "--executor", "slurm", "--slurm", "gpu=1")
    assert r.returncode == 2 and "unknown SLURM option(s) 'gpu'" in r.stderr and "known SLURM options: partition" in r.stderr

    def main(*args) -> tuple[int, str]:
        code = G.main(list(map(str, args)))
        return code, capsys.readouterr().err
    code, err = main(g, "--out", tmp_path / "o", "--executor", "slurm", "--slurm", "gpu")
    assert code == 2 and "--slurm takes KEY=VALUE, got 'gpu'" in err
    code, err = main(g, "--out", tmp_path / "o", "--slurm", "partition=x")
    assert code == 2 and "--slurm and --no-wait need --executor slurm" in err
    code, err = main(grid_file(tmp_path, executor={"type": "kubernetes"}), "--out", tmp_path / "o")
    assert code == 2 and "unknown executor 'kubernetes'; allowed: local, slurm" in err
    assert not (tmp_path / "o").exists()


def test_runs_folder_that_is_not_writable(tmp_path):
    (tmp_path / "file").write_text("x")
    out = tmp_path / "file" / "runs"  # under a file: not writable, even as root
    plan = P.load_grid(grid_file(tmp_path), out)
    with pytest.raises(PermissionError, match="cannot write to output folder .*a part of the path is a file"):
        run_plan(plan, out, S.SlurmExecutor(S.parse_options(), LocalJobs()), log=lambda s: None)


def test_failure_record_keeps_a_completed_one(tmp_path):
    cfg = P.load_grid(grid_file(tmp_path), tmp_path / "o").runs[0]
    m = S.record_failure(cfg, "7_3", {"State": "CANCELLED", "NodeList": "n1", "ExitCode": "0:15"})
    assert m["status"] == "failed" and m["error"] == "SLURM job 7_3 ended CANCELLED on n1 (exit code 0:15)"
    assert m["env"]["slurm"].items() >= {"job_id": "7_3", "array_index": "3", "node": "n1", "state": "CANCELLED"}.items()
    done = json.loads((Path(cfg.out_dir) / "metrics.json").read_text()) | {"status": "completed"}
    (Path(cfg.out_dir) / "metrics.json").write_text(json.dumps(done))
    assert S.record_failure(cfg, "7_3", {"State": "FAILED"})["status"] == "completed"


# ---------------------------------------------------------------------------------------------------
# Against a real SLURM
# ---------------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def small_on_slurm(slurm, tmp_path_factory):
    """A small grid (FOUR: four runs in two grids) through SLURM, each run with one (fake) GPU; and the same command
    again."""
    root = tmp_path_factory.mktemp("slurm")
    g, out = root / "four.yaml", root / "small"
    g.write_text(yaml.safe_dump(FOUR))
    gres = subprocess.run(["sinfo", "-h", "-o", "%G"], capture_output=True, text=True).stdout
    gpus = "gpu" in gres
    t = time.monotonic()
    first = grid(g, "--out", out, "--executor", "slurm", "--slurm", "cpus=1", "--slurm", f"gpus={int(gpus)}")
    seconds = time.monotonic() - t
    ledger = json.loads((out / S.LEDGER).read_text()) if (out / S.LEDGER).exists() else {}
    before = {p: p.stat().st_mtime_ns for p in out.rglob("metrics.json")}
    second = grid(g, "--out", out, "--executor", "slurm")
    print(f"small grid through SLURM: {seconds:.0f} s")
    return out, first, second, ledger, before, gpus


def test_small_grid_on_slurm_completes_and_records_its_jobs(small_on_slurm):
    out, first, _, ledger, _, _ = small_on_slurm
    assert first.returncode == 0, first.stdout[-3000:] + first.stderr[-3000:]
    recs = records(out)
    assert len(recs) == 4 and {m["status"] for m in recs.values()} == {"completed"}
    for rid, m in recs.items():
        job = m["env"]["slurm"]
        assert job["job_id"] == ledger[rid]["job_id"] and job["node"] and job["partition"]
        assert job["job_id"] == f"{job['job_id'].split('_')[0]}_{job['array_index']}"  # one array task per run
    assert len({m["env"]["slurm"]["job_id"].split("_")[0] for m in recs.values()}) == 1  # one array, both grids
    assert "[  4/4] completed" in first.stdout and "all 4 runs done" in first.stdout


def test_second_invocation_submits_nothing(small_on_slurm):
    out, _, second, ledger, before, _ = small_on_slurm
    assert second.returncode == 0, second.stderr
    assert "4 already done, 0 queued or running on SLURM, 0 to submit" in second.stdout
    assert "submitted" not in second.stdout
    assert json.loads((out / S.LEDGER).read_text()) == ledger
    assert before == {p: p.stat().st_mtime_ns for p in out.rglob("metrics.json")}


def test_each_run_with_one_gpu_sees_its_own(small_on_slurm):
    out, _, _, _, _, gpus = small_on_slurm
    need(None if gpus else "the SLURM node advertises no GPUs (make slurm-up advertises 4 fake ones)")
    spans = []
    for m in records(out).values():
        dev = m["env"]["slurm"]["cuda_visible_devices"]
        assert dev.isdigit(), dev  # exactly one GPU each
        spans.append((m["started_at"], m["updated_at"], dev))
    for i, (a0, a1, da) in enumerate(spans):
        for b0, b1, db in spans[i + 1:]:
            if a0 < b1 and b0 < a1:  # ran at the same time: never on the same GPU
                assert da != db, spans
    assert len({d for *_, d in spans}) > 1, spans


ENDED = (S.ENDED_BADLY - {"PREEMPTED"}) | {"COMPLETED"}  # PREEMPTED comes back as PENDING when requeued


def _wait_for(what: str, ready, hopeless):
    """Poll until ``ready()``; fail as soon as ``hopeless()`` names why it can no longer happen (no clock:
    a loaded machine is slow, not wrong)."""
    while not ready():
        why = hopeless()
        assert not why, f"{what}: {why}"
        time.sleep(0.5)


def _state(job_id: str) -> str:
    return job_states([job_id]).get(job_id, {}).get("State", "")


def test_cancelled_job_is_failed_and_the_others_complete(slurm, tmp_path):
    out = tmp_path / "runs"
    g = grid_file(tmp_path, runs=3)
    p = subprocess.Popen([sys.executable, "-m", "alexlib.grid", str(g), "--out", str(out), "--executor", "slurm"],
                         cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    _wait_for("the grid's job ids", lambda: (out / S.LEDGER).exists(),
              lambda: p.poll() is not None and f"the grid exited ({p.returncode}) before submitting")
    ledger = json.loads((out / S.LEDGER).read_text())
    victim, job = sorted(ledger.items())[0]
    subprocess.run(["scancel", job["job_id"]], check=True)
    stdout, stderr = p.communicate()
    assert p.returncode == 1, stdout + stderr
    recs = records(out)
    assert recs[victim]["status"] == "failed"
    assert recs[victim]["error"].startswith(f"SLURM job {job['job_id']} ended CANCELLED")
    assert recs[victim]["env"]["slurm"]["job_id"] == job["job_id"]
    assert recs[victim]["env"]["slurm"]["state"] == "CANCELLED"
    assert sorted(r for r, m in recs.items() if m["status"] == "completed") == sorted(set(ledger) - {victim})
    assert f"FAILED (1): {victim}" in stdout


def test_no_wait_then_again_neither_duplicates_nor_loses_runs(slurm, tmp_path):
    out = tmp_path / "runs"
    g = grid_file(tmp_path, runs=3)
    first = grid(g, "--out", out, "--executor", "slurm", "--no-wait")
    assert first.returncode == 0, first.stderr
    assert "submitted 3 runs as job array" in first.stdout and "squeue -j" in first.stdout
    ledger = json.loads((out / S.LEDGER).read_text())
    (lost, job), *kept = sorted(ledger.items())
    subprocess.run(["scancel", job["job_id"]], check=True)  # ends while no grid watches
    _wait_for("the cancellation", lambda: _state(job["job_id"]) == "CANCELLED",
              lambda: (st := _state(job["job_id"])) in ENDED - {"CANCELLED"} and f"the job ended {st}")
    again = grid(g, "--out", out, "--executor", "slurm", "--no-wait")
    assert again.returncode == 0, again.stdout + again.stderr
    done = sum(m["status"] == "completed" for m in records(out).values())  # some may have finished meanwhile
    assert f"{done} already done, {2 - done} queued or running on SLURM, 1 to submit" in again.stdout
    assert "submitted 1 run " in again.stdout  # only the cancelled one, again
    now = json.loads((out / S.LEDGER).read_text())
    assert {r: now[r] for r, _ in kept} == dict(kept) and now[lost]["job_id"] != job["job_id"]
    last = grid(g, "--out", out, "--executor", "slurm")  # waits for the queued ones
    assert last.returncode == 0, last.stdout + last.stderr
    assert json.loads((out / S.LEDGER).read_text()) == now
    recs = records(out)
    assert len(recs) == 3 and {m["status"] for m in recs.values()} == {"completed"}
    assert {r: m["env"]["slurm"]["job_id"] for r, m in recs.items()} == {r: j["job_id"] for r, j in now.items()}


def test_preempted_run_is_requeued_and_matches_an_uninterrupted_one(slurm, tmp_path):
    parts = subprocess.run(["sinfo", "-h", "-o", "%R"], capture_output=True, text=True).stdout.split()
    need(None if "high" in parts else "no 'high' partition to preempt from (make slurm-up makes one)")
    # the run is held in its second epoch (conftest.Hold: its first epoch recorded, so the rerun has a checkpoint to
    # resume from) until the preemption has ended its kernel: it cannot finish within the partition's 5 s GraceTime
    # and be recorded completed before its requeue (seen in CI when this raced a long run)
    base = dict(norm="bn", batch_size=32, epochs=3)
    out = tmp_path / "runs"
    g = grid_file(tmp_path, **base)
    hold = Hold(tmp_path, P.load_grid(g, out).runs[0].out_dir, epoch=2)
    r = grid(g, "--out", out, "--executor", "slurm", "--no-wait", env=hold.env)
    assert r.returncode == 0, r.stdout + r.stderr
    rid, job = next(iter(json.loads((out / S.LEDGER).read_text()).items()))
    kernel = hold.held(lambda: (st := _state(job["job_id"])) in ENDED and f"the job ended {st}")
    hi = subprocess.run(["sbatch", "--parsable", "-p", "high", "--exclusive", "-o", "/dev/null", "--wrap", "sleep 1"],
                        capture_output=True, text=True, check=True)
    hi_id = hi.stdout.strip().split(";")[0]
    _wait_for("the preemption to end the held run's kernel", lambda: _gone(kernel),
              lambda: _state(hi_id) in ENDED and not _gone(kernel) and f"the high job ended {_state(hi_id)} beside it")
    hold.release()
    r = grid(g, "--out", out, "--executor", "slurm")
    assert r.returncode == 0, r.stdout + r.stderr
    m = records(out)[rid]
    states = subprocess.run(["sacct", "-n", "-X", "-D", "-P", "-o", "State", "-j", job["job_id"].split("_")[0]],
                            capture_output=True, text=True).stdout.split()
    assert m["status"] == "completed" and int(m["env"]["slurm"]["restarts"]) >= 1, (m["env"], states, hi.stdout)
    assert "REQUEUED" in states or "PREEMPTED" in states, states
    assert [h["epoch"] for h in m["history"]] == [1, 2, 3]
    ref = train({**TINY, **base, "threads": 1, "out_dir": str(tmp_path / "uninterrupted")})
    assert [h["test_acc"] for h in m["history"]] == [h["test_acc"] for h in ref["history"]]
    assert [h["train_loss"] for h in m["history"]] == [h["train_loss"] for h in ref["history"]]
