"""Bad input fails at once, before data or training, with a message naming the value and the choices."""
import math
import subprocess
import sys

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from alexlib.train import config as C
from alexlib.train.config import ConfigError, RunConfig
from alexlib.train.inputs.datasets import REGISTRY
from alexlib.train.run.loop import main, train

from conftest import REPO


def test_defaults_are_the_reports_protocol():
    c = RunConfig()
    assert (c.norm, c.batch_size, c.lr, c.momentum, c.epochs, c.dataset, c.image_size) == \
        ("none", 64, 0.005, 0.9, 10, "cifar10", 224)
    assert c.gn_groups == 4 and c.width == 1.0


@pytest.mark.parametrize("kw, pattern", [
    (dict(norm="in"), r"norm='in'.*none, bn, ln, gn, lrn"),
    (dict(dataset="imagenet"), r"dataset='imagenet'.*cifar10, fashion_mnist, digits, synthetic"),
    (dict(batch_size=0), r"batch_size=0.*between 1 and"),
    (dict(batch_size=-8), r"batch_size=-8.*between 1 and"),
    (dict(batch_size="abc"), r"batch_size must be a whole number, got 'abc'"),
    (dict(batch_size=3.5), r"batch_size must be a whole number, got 3.5"),
    (dict(batch_size=True), r"batch_size must be a whole number, got True"),
    (dict(epochs=0), r"epochs=0.*between 1 and"),
    (dict(epochs=10**9), r"epochs=1000000000.*between 1 and 10000"),
    (dict(lr=0), r"lr=0.0.*greater than 0"),
    (dict(lr=-0.1), r"lr=-0.1.*greater than 0"),
    (dict(lr=math.nan), r"lr must be a finite number"),
    (dict(lr=math.inf), r"lr must be a finite number"),
    (dict(lr="fast"), r"lr must be a number, got 'fast'"),
    (dict(momentum=1.0), r"momentum=1.0.*below 1"),
    (dict(image_size=32), r"image_size=32.*between 63 and"),
    (dict(train_size=-1), r"train_size=-1.*between 0 and"),
    (dict(width=0), r"width=0.0.*between 0.05 and 4"),
    (dict(device="gpu"), r"device='gpu'.*auto, cpu, cuda or cuda:N"),
    (dict(precision="fp8"), r"precision='fp8'.*auto, fp32, bf16"),
    (dict(norm="gn", gn_groups=5), r"gn_groups=5.*divide every stage's channel count"),
    (dict(deterministic="yes"), r"deterministic must be true or false"),
])
def test_bad_values_are_rejected_with_a_clear_message(kw, pattern):
    with pytest.raises(ConfigError, match=pattern):
        RunConfig(**kw)


def test_unknown_keys_are_rejected_with_the_known_ones_listed():
    with pytest.raises(ConfigError, match=r"unknown parameter\(s\) 'batchsize'.*known parameters: norm, batch_size"):
        RunConfig.from_dict({"batchsize": 32})


def test_text_values_are_parsed_as_their_fields_types():
    c = RunConfig.from_strings({"batch_size": "32", "lr": "1e-3", "deterministic": "true", "norm": "gn"})
    assert (c.batch_size, c.lr, c.deterministic, c.norm) == (32, 0.001, True, "gn")
    with pytest.raises(ConfigError, match="batch_size must be a whole number, got '3x'"):
        RunConfig.from_strings({"batch_size": "3x"})


def test_none_sizes_mean_the_whole_split():
    assert RunConfig(train_size=None).train_size == 0


def test_bad_config_leaves_no_output(tmp_path):
    with pytest.raises(ConfigError):
        train({"norm": "xx", "out_dir": str(tmp_path / "never")})
    assert not (tmp_path / "never").exists()


def test_cli_reports_bad_values_without_a_traceback(capsys, tmp_path):
    assert main(["--norm", "xx", "--out-dir", str(tmp_path / "x")]) == 2
    err = capsys.readouterr().err
    assert "norm='xx'" in err and "Traceback" not in err
    assert main(["--batch-size", "-3"]) == 2
    assert "batch_size=-3" in capsys.readouterr().err


def test_cli_as_a_module(tmp_path):
    out = tmp_path / "cli run"
    r = subprocess.run([sys.executable, "-m", "alexlib.train", "--dataset", "synthetic", "--image-size", "63",
                        "--width", "0.125", "--epochs", "1", "--train-size", "64", "--test-size", "32",
                        "--batch-size", "16", "--device", "cpu", "--out-dir", str(out)],
                       cwd=REPO, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    assert "epoch   1/1" in r.stdout and (out / "metrics.json").exists()


def test_speed_and_place_switches_do_not_change_the_run_id():
    a = RunConfig(norm="bn")
    for change in ({"cuda_graph": False}, {"deterministic": True}, {"eval_batch_size": 100}, {"progress": False},
                   {"out_dir": "x"}, {"data_dir": "y"}, {"device": "cpu"}, {"keep_checkpoint": True}):
        assert a.replace(**change).run_id() == a.run_id(), change
    for change in ({"momentum": 0.0}, {"precision": "fp32"}, {"gn_groups": 8}, {"test_size": 10}):
        assert a.replace(**change).run_id() != a.run_id(), change


# ---- python -m alexlib.train --help: type, allowed values, default once, and the field's comment ----
def cli_help() -> str:
    import alexlib.train.run.loop as T
    return T.build_parser().format_help()


def test_help_shows_each_parameter_with_its_type_default_and_comment_once():
    text = " ".join(cli_help().split())  # argparse wraps to the terminal's width
    assert "(default: None)" not in text and "default: " not in text
    helps = C.parameter_help()
    assert list(helps) == RunConfig.field_names()
    for name, (metavar, line) in helps.items():
        flag = "--" + name.replace("_", "-")
        assert f"{flag} {metavar}" in text and " ".join(line.split()) in text
        assert line.count("default") == 1 + C.field_comments()[name].count("default"), line
    assert "[str; default 'none']" in helps["norm"][1] and "[int, 1..65536; default 64]" in helps["batch_size"][1]
    assert helps["keep_checkpoint"][1].endswith("[bool; default false]")
    assert helps["out_dir"][1].endswith("[str; default '']")


def test_help_names_the_allowed_values():
    text = " ".join(cli_help().split())
    for flag, values in (("--norm", "{none,bn,ln,gn,lrn,bn_gn5,bn_pre5}"), ("--dataset", "{" + ",".join(REGISTRY) + "}"),
                         ("--precision", "{auto,fp32,bf16}"), ("--device", "{auto,cpu,cuda,cuda:N}"),
                         ("--deterministic", "{true,false}"), ("--cuda-graph", "{true,false}")):
        assert f"{flag} {values}" in text
    for part in ("0 < lr <= 1000", "0 <= momentum < 1", "0 <= dropout < 1", "0.05..4", "63..1024", "1..10000"):
        assert part in text


def test_helps_comments_are_the_ones_papermill_shows_for_the_notebook():
    import papermill as pm

    from alexlib.paths import RUN_NOTEBOOK
    shown = pm.inspect_notebook(str(RUN_NOTEBOOK))
    comments = C.field_comments()
    assert set(comments) == set(RunConfig.field_names())
    for name, p in shown.items():
        assert p["help"] == comments[name], name
        assert p["default"] in C.parameter_help()[name][1] or p["inferred_type_name"] == "bool"


@pytest.mark.parametrize("name, shown, ok, bad", [
    ("lr", "0 < lr <= 1000", [1e-9, 1000.0], [0.0, 1000.001]),
    ("momentum", "0 <= momentum < 1", [0.0, 0.999], [-0.001, 1.0]),
    ("dropout", "0 <= dropout < 1", [0.0, 0.999], [-0.001, 1.0]),
    ("width", "0.05..4", [0.05, 4.0], [0.049, 4.001]),
    ("image_size", "63..1024", [63, 1024], [62, 1025]),
    ("batch_size", "1..65536", [1, 65536], [0, 65537]),
])
def test_the_ranges_help_shows_are_the_ones_the_config_checks(name, shown, ok, bad):
    assert f", {shown};" in C.parameter_help()[name][1]
    for v in ok:
        RunConfig(**{name: v})
    for v in bad:
        with pytest.raises(ConfigError, match=name):
            RunConfig(**{name: v})


def test_help_as_a_command():
    r = subprocess.run([sys.executable, "-m", "alexlib.train", "--help"], cwd=REPO, capture_output=True, text=True,
                       timeout=300)
    assert r.returncode == 0 and "--norm {none,bn,ln,gn,lrn,bn_gn5,bn_pre5}" in r.stdout and "default: None" not in r.stdout


ANY_VALUE = st.one_of(
    st.none(), st.booleans(), st.integers(min_value=-10**12, max_value=10**12),
    st.floats(allow_nan=True, allow_infinity=True), st.text(max_size=12),
    st.lists(st.integers(), max_size=2), st.dictionaries(st.text(max_size=3), st.integers(), max_size=1))


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(field=st.sampled_from(RunConfig.field_names()), value=ANY_VALUE)
def test_fuzzed_values_are_accepted_or_rejected_naming_the_parameter(field, value):
    try:
        c = RunConfig.from_dict({field: value})
    except ConfigError as e:
        assert field in str(e)
        return
    v = getattr(c, field)  # accepted: the value is a sane instance of the field's type
    if isinstance(v, float):
        assert math.isfinite(v)


@settings(max_examples=200, deadline=None)
@given(key=st.text(min_size=1, max_size=15).filter(lambda k: k not in RunConfig.field_names()))
def test_fuzzed_unknown_keys_are_rejected(key):
    with pytest.raises(ConfigError, match="unknown parameter"):
        RunConfig.from_dict({key: 1})


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(field=st.sampled_from(["batch_size", "lr", "epochs", "image_size", "momentum", "width", "seed",
                              "train_size", "deterministic"]),
       text=st.one_of(st.sampled_from(["nan", "inf", "-inf", "-1", "0", "1e309", "1e9", "ten", "", " ", "0x10",
                                       "3.7", "Ünïcode", "1_000"]), st.text(max_size=8)))
def test_fuzzed_command_line_text_never_trains_or_writes_on_bad_input(tmp_path, field, text):
    out = tmp_path / "cli out"
    flag = "--" + field.replace("_", "-")
    try:
        cfg = RunConfig.from_strings({field: text})
    except ConfigError as e:
        assert field in str(e)
        assert main([f"{flag}={text}", "--out-dir", str(out)]) == 2
        assert not out.exists()
        return
    # accepted: the text meant this value of the field's type, which reads back the same
    value = getattr(cfg, field)
    assert type(value) is type(getattr(RunConfig(), field))
    assert not isinstance(value, float) or math.isfinite(value)
    if isinstance(value, bool):
        assert text.strip().lower() in ("1", "true", "yes", "on", "0", "false", "no", "off")
    else:
        assert value == type(value)(text.strip())
    assert RunConfig.from_strings({field: str(value)}) == cfg
