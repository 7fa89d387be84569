"""The GPU check's rules, and its plumbing on the CPU."""


def test_gpucheck_agreement_rules():
    from alexlib.tools.gpucheck import agree

    def rec(losses, acc, graph=True, status="completed"):
        return {"status": status, "env": {"cuda_graph": graph},
                "history": [{"epoch": i + 1, "train_loss": v} for i, v in enumerate(losses)],
                "final": {"test_acc": acc}}
    assert agree(rec([2.0, 1.0], 80.0, graph=False), rec([2.01, 1.02], 81.0)) == []
    bad = agree(rec([2.0, 1.0], 80.0), rec([2.0, 1.2], 70.0, graph=False))
    assert any("did not use its graph" in b for b in bad)
    assert any("epoch 2 train loss" in b and "20.0 % apart" in b for b in bad)
    assert any("10.00 points apart" in b for b in bad)
    assert any("did not learn" in b for b in agree(rec([1.0, 1.5], 50.0), rec([1.0, 1.5], 50.0)))
    assert any("eager run diverged" in b for b in agree(rec([1.0], 50.0, status="diverged"), rec([1.0], 50.0)))


def test_gpucheck_runs_end_to_end_on_the_cpu(tmp_path, capsys):
    """Its plumbing on the CPU: there, no graph is captured, and that is the only thing it reports."""
    from alexlib.tools.gpucheck import run
    res = run(["bn"], epochs=2, image_size=63, train_size=160, batch_size=32, device="cpu", work=tmp_path)
    graph_check, det = res["checks"]
    assert graph_check["problems"] == ["graphed run did not use its graph (no graph)"]
    assert det == {"check": "deterministic LRN", "ok": True, "problems": []}
    assert "FAIL graph vs eager, bn: loss eager" in capsys.readouterr().out
