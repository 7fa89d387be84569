"""The benchmark runs on the CPU at a tiny size, prints its table and writes valid JSON (no timing asserts)."""
import json

from alexlib.bench import HEADER, main


def test_bench_prints_a_table_and_writes_json(tmp_path, capsys):
    out = tmp_path / "b" / "bench.json"
    assert main(["--device", "cpu", "--norms", "bn,lrn", "--batch-sizes", "8,16", "--image-size", "63",
                 "--width", "0.125", "--steps", "2", "--warmup", "1", "--workers", "0", "--json", str(out)]) == 0
    printed = capsys.readouterr().out
    assert HEADER in printed and "eval img/s" in printed
    res = json.loads(out.read_text())
    assert [(r["norm"], r["batch_size"]) for r in res["rows"]] == [("bn", 8), ("bn", 16), ("lrn", 8), ("lrn", 16)]
    for r in res["rows"]:
        assert r["report_img_s"] > 0 and r["tuned_img_s"] > 0 and r["train_flops_per_image"] > 0
        assert 0 < r["share_of_matmul_limit"] < 10
    assert res["env"]["device"] == "cpu" and res["matmul_flops_per_s"] > 0


def test_full_size_flop_count_matches_spec():
    from alexlib.bench import train_flops_per_image
    # SPEC.md: about 6.6 GFLOP per image for a 224x224 training step (forward ~2.26)
    assert abs(train_flops_per_image("none", 224, 1.0) / 1e9 - 6.6) < 0.2
