"""Real images on any machine: which grid `make report` picks without CUDA, and a slice of the Fashion-MNIST
grid (all three designs) through the whole pipeline on Debian's real Fashion-MNIST files."""
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from alexlib import pipeline as P
from alexlib.report.render.export import build_report
from alexlib.train.inputs.data import DEBIAN_FASHION_DIR, DataError

from conftest import REPO


# --------------------------------------------------------------------------------------------------
# make report's choice of grid
# --------------------------------------------------------------------------------------------------
def have(*datasets):
    def available(name, data_dir):
        if name not in datasets:
            raise DataError(f"{name} is not usable: not found, and download failed (/some/machine/path)")
    return available


@pytest.mark.parametrize("cuda, datasets, grid, because", [
    ("H100", (), "paper", "CUDA device found (H100)"),
    (None, ("cifar10", "fashion_mnist"), "quick", "quick CPU grid on CIFAR-10. Set"),
    (None, ("cifar10_jpeg", "fashion_mnist"), "cifar10_jpeg", "CIFAR-10's images (JPEG q75 copy), because CIFAR-10 "
                                                              "is not in data/"),
    (None, ("fashion_mnist",), "fashion", "Fashion-MNIST CPU grid, because CIFAR-10 is not in data/ and could not "
                                          "be downloaded; CIFAR-10 (JPEG q75 copy) was not found"),
    (None, (), "demo", "digits demo (scikit-learn's embedded digits), because CIFAR-10 is not in data/ and could "
                       "not be downloaded; CIFAR-10 (JPEG q75 copy) was not found"),
])
def test_auto_picks_the_best_grid_this_machine_can_feed(cuda, datasets, grid, because, capsys):
    path, why = P.choose_grid("auto", cuda=lambda: cuda, available=have(*datasets))
    assert path == REPO / "params" / f"{grid}.yaml" and path.exists()
    assert because in why and why.startswith("GRID=auto") and "GRID=paper|paper_steps|quick|cifar10_jpeg|fashion|demo" in why
    assert "/some/machine/path" not in why  # the reason goes into the report: no machine paths


def test_a_named_grid_is_taken_as_it_is():
    path, why = P.choose_grid("paper", cuda=lambda: None, available=have())
    assert path.name == "paper.yaml" and why == ""  # the paper grid stays strict: CIFAR-10 or an error


def test_the_missing_cifar_message_names_the_alternatives(tmp_path):
    from alexlib.train.inputs.datasets import check_available
    with pytest.raises(DataError) as e:
        check_available("cifar10", tmp_path)
    assert "GRID=fashion" in str(e.value) and "make demo" in str(e.value)


# --------------------------------------------------------------------------------------------------
# a slice of params/fashion.yaml on the real files
# --------------------------------------------------------------------------------------------------
def fashion_files() -> bool:
    return (Path(DEBIAN_FASHION_DIR) / "train-images-idx3-ubyte.gz").exists()


@pytest.fixture(scope="module")
def fashion_slice(tmp_path_factory):
    if not fashion_files():
        if os.environ.get("CI") == "true":
            pytest.fail(f"CI must have Debian's dataset-fashion-mnist ({DEBIAN_FASHION_DIR}); .ci/run installs it")
        pytest.skip(f"no Fashion-MNIST files in {DEBIAN_FASHION_DIR} (apt-get install dataset-fashion-mnist)")
    doc = yaml.safe_load((REPO / "params" / "fashion.yaml").read_text())
    # 320 training images, the fewest that hold every class equally (32 each) and make whole batches of 64 (5 steps
    # an epoch: batch 8 at 1 epoch takes batch 64's 40 steps at 8, so the equal-steps arm stays exact); kernel start
    # is most of each run's cost
    doc["base"].update(train_size=320, test_size=100, data_dir=str(tmp_path_factory.mktemp("empty data")))
    # every design, at two norms, batch 8 and 64 (the image-size arm at batch 8; linear scaling at other
    # batch sizes, the paper's design made whole, is the lr_scaled design again; the lr sweep is the smoke grid's)
    doc["grids"] = [g for g in doc["grids"] if g["name"] in ("norm_x_batch", "equal_steps", "image_size", "lr_scaled")]
    for g in doc["grids"]:   # two seeds in the report's design (its claims' tests); one in each arm (its rows)
        g["norm"] = ["none", "bn"]
        g["seed"] = [0, 1] if g["name"] == "norm_x_batch" else [0]
        if "batch_size" in g and isinstance(g["batch_size"], list):
            g["batch_size"] = [8] if g["name"] == "image_size" else [8, 64]
    root = tmp_path_factory.mktemp("fashion")
    grid = root / "fashion_slice.yaml"
    grid.write_text(yaml.safe_dump(doc, sort_keys=False))
    out = root / "runs"
    r = subprocess.run([sys.executable, "-m", "alexlib.grid", str(grid), "--out", str(out), "--jobs", "2"],
                       cwd=REPO, capture_output=True, text=True, timeout=1800)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    return out, root


def test_the_fashion_slice_trains_on_the_real_files(fashion_slice):
    out, _ = fashion_slice
    records = [json.loads(p.read_text()) for p in out.glob("*/metrics.json")]
    # fixed 2 norms x 2 batch sizes x 2 seeds; equal steps, image size, lr scaled 2 norms x 1 seed
    assert len(records) == 8 + 2 + 2 + 2
    for m in records:
        assert m["status"] == "completed", m.get("error")
        assert m["dataset"]["description"].startswith("Fashion-MNIST") and not m["dataset"]["synthetic"]
        assert m["dataset"]["train_images"] == 320 and m["dataset"]["test_images"] == 100


def test_the_fashion_slice_report_shows_the_designs_and_the_claims(fashion_slice):
    out, root = fashion_slice
    made = build_report(out, root / "report")   # the PDF by WeasyPrint: no browser needed
    html = made["html"].read_text()
    for section in ("Batch size or step count?", "The report's claims", "equal steps",
                    "linear lr scaling", "tests the claim's direction, not its number"):
        assert section in html, section
    assert "SYNTHETIC" not in html and str(root) not in html
    assert "Warning" not in html and "site-packages" not in html  # no stray library output in the report
    summary = json.loads((root / "report" / "summary.json").read_text())
    from alexlib.report.domain.claims import CLAIMS
    assert [c["id"] for c in summary["claims"] if c["source"] == "report"] == [c.id for c in CLAIMS if c.source == "report"]
    assert [r["norm"] for r in summary["small_batches"]["image_arm"]] == ["bn", "none"]   # the 95 px arm at batch 8
    assert set(summary["designs"]) == {"fixed", "equal_steps", "lr_scaled"} and summary["fixed_epochs"] == 8
    effects = {(e["norm"], e["design"]) for e in summary["batch_effects"]}
    assert effects == {(n, d) for n in ("none", "bn") for d in ("fixed", "equal_steps", "lr_scaled")}
