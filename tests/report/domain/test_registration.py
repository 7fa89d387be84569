"""A study's declaration: found by its protocol, looks per source, and a pre-registration checked against the
records (made after it, under the same claims and grid)."""
import hashlib
from pathlib import Path

import yaml

from alexlib.report.domain import registration as R
from alexlib.train.record import Place, flat_source


def test_the_fashion_study_is_found_by_its_protocol_and_declares_its_looks():
    reg = R.for_protocol({"dataset": "fashion_mnist", "image_size": 63, "width": 0.125, "train_size": 11520,
                          "test_size": 2000, "epochs": 8})
    assert reg is not None and reg.grid == "fashion" and reg.looks == {"report": 2, "gn_paper": 1}
    assert not reg.pre_registered and "fixed after the first batch-2 runs" in reg.note
    assert R.for_protocol({"dataset": "digits", "image_size": 63, "width": 0.25, "epochs": 4}) is None


def test_a_pre_registration_holds_only_for_records_made_after_it_under_the_same_digests(tmp_path, monkeypatch):
    params = tmp_path / "params"
    params.mkdir()
    (params / "g.yaml").write_text(yaml.safe_dump({"base": {"dataset": "digits"}, "grids": [{"seed": [0]}]}))
    monkeypatch.setattr(R, "PARAMS", params)
    path = R.write("g", {"report": 2, "gn_paper": 2}, "frozen before the first run", folder=params / "registered")
    reg = R.load(path)
    assert reg.pre_registered and reg.looks == {"report": 2, "gn_paper": 2}
    assert reg.check(["2999-01-01T00:00:00+00:00"]) == []
    assert "made before the registration" in reg.check(["2000-01-01T00:00:00+00:00"])[0]
    (params / "g.yaml").write_text("base: {dataset: digits}\ngrids: [{seed: [0, 1]}]\n")
    assert any("grid changed" in b for b in reg.check([]))


def test_the_cifar_study_was_registered_before_its_first_run_under_todays_claims_and_grid():
    reg = R.load(R.FOLDER / "cifar10_jpeg.yaml")
    assert reg.pre_registered and reg.looks == {"report": 2, "gn_paper": 2}
    assert reg.check([]) == [], "claims.py or params/cifar10_jpeg.yaml changed since the registration"


def test_the_claims_digest_reads_train_imports_flat():
    """The registry enters the claims' digest with its imports of train read flat: pointing one at another of
    train's subfolders keeps the digest (a module moved between them), importing another name changes it."""
    from alexlib.report.domain import claims
    text = Path(claims.__file__).read_text()
    assert "from ...train.net.norms import" in text

    def digest(source):
        return hashlib.sha256(flat_source(source, Place(claims.__name__)).encode()).hexdigest()[:12]
    assert digest(text) == R.current_digests("cifar10_jpeg")["claims"]
    assert digest(text.replace("from ...train.net.norms import", "from ...train.inputs.norms import")) == digest(text)
    assert digest(text.replace("from ...train.net.norms import", "from ...train.net.shapes import")) != digest(text)
    assert digest(text.replace("from ...train.net.norms import", "from ...train.norms import")) == digest(text)
