"""The two install routes pin the same versions, and CI calls the README's test command."""
import re

from conftest import REPO


def pins(text: str) -> dict[str, str]:
    return dict(re.findall(r"^\s*-?\s*([A-Za-z0-9_.\-]+)==([^\s#]+)", text, flags=re.M))


def test_environment_yml_and_requirements_pin_the_same_versions():
    req = pins((REPO / "requirements.txt").read_text())
    env = pins((REPO / "environment.yml").read_text())
    assert req and req == env


def test_ci_runs_the_readme_test_command():
    assert "make test" in (REPO / "README.md").read_text()
    assert "make test" in (REPO / ".ci/run").read_text()
