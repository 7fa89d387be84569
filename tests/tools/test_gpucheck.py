"""The GPU check's rules, and its plumbing on the CPU."""


def test_gpucheck_agreement_rules():
    from alexlib.tools.gpucheck import agree

    def rec(losses, acc, graph=True, status="completed", norm="bn"):
        return {"status": status, "env": {"cuda_graph": graph}, "config": {"norm": norm},
                "history": [{"epoch": i + 1, "train_loss": v} for i, v in enumerate(losses)],
                "final": {"test_acc": acc}}
    assert agree(rec([2.0, 1.0], 80.0, graph=False), rec([2.01, 1.02], 81.0)) == []
    bad = agree(rec([2.0, 1.0], 80.0), rec([2.0, 1.2], 70.0, graph=False))
    assert any("did not use its graph" in b for b in bad)
    assert any("epoch 2 train loss" in b and "20.0 % apart" in b for b in bad)
    assert any("10.00 points apart" in b for b in bad)
    assert any("did not learn" in b for b in agree(rec([1.0, 1.5], 50.0), rec([1.0, 1.5], 50.0)))
    # none and LRN sit at chance for their first ~1,000 steps: agreeing at 2.303 is a pass, not "did not learn"
    for norm in ("none", "lrn"):
        assert agree(rec([2.3026, 2.3027], 10.0, norm=norm), rec([2.3026, 2.3028], 10.0, norm=norm)) == []
    assert any("eager run diverged" in b for b in agree(rec([1.0], 50.0, status="diverged"), rec([1.0], 50.0)))


SMALL_WIDTH = 0.25   # the check trains the report's full-width network (a GPU's job); its plumbing is the same at a
                     # quarter width, which still learns in its 2 x 5 steps (BN: loss 2.30 -> 2.17 here) at a third
                     # of the CPU time


def at_small_width(gpucheck):
    """The check's runs at SMALL_WIDTH: its own _train, given the width it leaves at the default."""
    real = gpucheck._train
    return lambda cfg: real({**cfg, "width": SMALL_WIDTH})


def test_gpucheck_runs_end_to_end_on_the_cpu(tmp_path, capsys, monkeypatch):
    """Its plumbing on the CPU: there, no graph is captured, and that is the only thing it reports."""
    from alexlib.tools import gpucheck
    from alexlib.tools.gpucheck import run
    monkeypatch.setattr(gpucheck, "_train", at_small_width(gpucheck))
    res = run(["bn"], epochs=2, image_size=63, train_size=160, batch_size=32, device="cpu", work=tmp_path)
    graph_check, det = res["checks"]
    assert graph_check["problems"] == ["graphed run did not use its graph (no graph)"]
    assert det == {"check": "deterministic LRN", "ok": True, "problems": []}
    assert "FAIL graph vs eager, bn: loss eager" in capsys.readouterr().out


def test_the_gpu_check_needs_only_torch_torchvision_numpy_and_pyyaml(tmp_path):
    """What bench/gpu_check.sh says a bare GPU image needs: with tqdm, pandas, scipy, scikit-learn, matplotlib,
    papermill and the rest made unimportable, the check still trains (progress off: no tqdm)."""
    import subprocess
    import sys

    from conftest import REPO
    blocked = ["tqdm", "pandas", "scipy", "sklearn", "matplotlib", "seaborn", "papermill", "nbformat", "submitit",
               "IPython", "weasyprint"]
    code = f"""
import sys
for name in {blocked!r}:   # as if not installed: import fails, importlib.util.find_spec says None
    sys.modules[name] = None
from alexlib.tools import gpucheck
real = gpucheck._train
gpucheck._train = lambda cfg: real({{**cfg, "width": {SMALL_WIDTH!r}}})   # see SMALL_WIDTH
from alexlib.tools.gpucheck import main
sys.exit(main(['--device', 'cpu', '--norms', 'gn', '--epochs', '1', '--image-size', '63', '--train-size', '64',
               '--batch-size', '32']))
"""
    r = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=300)
    assert "None in sys.modules" not in r.stdout + r.stderr, (r.stdout + r.stderr)[-2000:]
    assert "GPU CHECK:" in r.stdout       # it ran to its verdict (FAIL on a CPU: no graph is captured there)
