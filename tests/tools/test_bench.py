"""The benchmark runs on the CPU at a tiny size, prints its table and writes valid JSON (no timing asserts)."""
import json

from alexlib.tools.bench import HEADER, main


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
    from alexlib.tools.bench import train_flops_per_image
    # measured with torch's FlopCounterMode: about 6.6 GFLOP per image for a 224x224 training step (forward ~2.26)
    assert abs(train_flops_per_image("none", 224, 1.0) / 1e9 - 6.6) < 0.2


def test_grid_settings_are_timed_side_by_side(tmp_path, capsys):
    """The --jobs x --threads comparison is one command; the smallest grid, two settings (no timing asserts)."""
    import yaml
    grid = tmp_path / "two.yaml"
    grid.write_text(yaml.safe_dump({"base": {"dataset": "synthetic", "image_size": 63, "width": 0.125, "train_size": 64,
                                             "test_size": 32, "epochs": 1, "device": "cpu"},
                                    "grids": [{"norm": ["bn", "gn"]}]}))
    out = tmp_path / "g.json"
    assert main(["--grid-settings", str(grid), "--settings", "1x1,2x1", "--json", str(out)]) == 0
    res = json.loads(out.read_text())
    assert [(r["jobs"], r["threads"], r["runs"]) for r in res["rows"]] == [(1, 1, 2), (2, 1, 2)]
    assert res["rows"][1]["same_accuracies_as_first"] == 2   # same seed, same thread count: same numbers
    assert "runs x threads" in capsys.readouterr().out


def test_bad_grid_settings_are_refused():
    import pytest

    from alexlib.tools.bench import parse_settings
    assert parse_settings("1x2, 2x1") == [(1, 2), (2, 1)]
    for bad in ("2", "0x1", "ax2"):
        with pytest.raises(SystemExit, match="--settings"):
            parse_settings(bad)
