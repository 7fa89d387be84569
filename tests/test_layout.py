"""The package's layout, read from its source as imports (those inside functions too): the folders are the
pipeline's three commands and imports only go down. train/ (one run) imports no other folder; grid/ (many runs) and
report/ (records to a report) may use train/'s configuration and record but never each other: they meet only
through metrics.json; the shared modules at the top import no folder; nothing but the commands on top (pipeline,
decide) and the notebooks' helpers (lab/) import them; no import cycle; no module over 400 lines or class over
200; no folder over 12 modules and at most 8 at the package's top (a longer list is grouped by job, as train/ is:
net/, inputs/, run/). And the report half loads without torch.

Inside report/, layers named for what they do, imports going down only: inference/ (the tests, the two-look
design, power, verdicts, the planner: plain numbers in, no pandas, no plotting) <- domain/ (the study on its runs
table: runs, cells, flags and convergence, the claims, the analysis, the rerun check) <- render/ (prose, tables,
figures, style, the report's files and their export) <- the facade on top (study)."""
import ast
import subprocess
import sys
from pathlib import Path

from conftest import REPO

PKG = REPO / "alexlib"
FOLDERS = ("train", "grid", "report", "tools", "lab")
# folder -> the folders it may import (the shared top-level modules are open to all); lab/ holds the notebooks'
# helpers, which look across the three (a study, a grid's state, a run's cost)
MAY_IMPORT = {"train": set(), "grid": {"train"}, "report": {"train"}, "tools": {"train", "grid"},
              "lab": {"train", "grid", "report"}, "pipeline": {"train", "grid", "report"}, "shared": set()}
ON_TOP = ("pipeline", "decide")   # the commands that run the three in order: they may import all three
MAX_PER_FOLDER = 12   # modules in one folder of alexlib/ (its __init__ and __main__ not counted)
MAX_ON_TOP = 8        # modules at alexlib/'s top


def module_name(p: Path) -> str:
    parts = list(p.relative_to(REPO).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports(p: Path) -> set[str]:
    """The alexlib modules ``p`` imports, resolved (relative imports included), at any depth in the file."""
    me = module_name(p)
    pkg = me if p.name == "__init__.py" else me.rsplit(".", 1)[0]
    out = set()
    for n in ast.walk(ast.parse(p.read_text())):
        if isinstance(n, ast.Import):
            out |= {a.name for a in n.names if a.name.startswith("alexlib")}
        elif isinstance(n, ast.ImportFrom):
            base = pkg.split(".")[: len(pkg.split(".")) - (n.level - 1)] if n.level else []
            mod = ".".join(base + ([n.module] if n.module else []))
            if mod.startswith("alexlib"):
                out |= {f"{mod}.{a.name}" for a in n.names} | {mod}
    return out


def folder(module: str) -> str:
    parts = module.split(".")
    if len(parts) == 1:
        return "package"
    return parts[1] if parts[1] in FOLDERS else "pipeline" if parts[1] in ON_TOP else "shared"


def graph() -> dict[str, set[str]]:
    files = sorted(PKG.rglob("*.py"))
    mods = {module_name(p) for p in files}

    def known(m: str) -> str | None:
        while m and m not in mods:
            m = m.rpartition(".")[0]
        return m or None
    return {module_name(p): {k for m in imports(p) if (k := known(m)) and k != module_name(p)} for p in files}


def test_imports_go_down_and_grid_and_report_meet_only_through_the_record():
    bad = []
    for src, targets in graph().items():
        s = folder(src)
        for t in targets:
            ts = folder(t)
            if ts in ("shared", "package") or ts == s:
                continue
            if ts not in MAY_IMPORT.get(s, set()):
                bad.append(f"{src} -> {t}")
    assert not bad, bad


def test_report_reads_nothing_of_train_but_the_configuration_and_the_record():
    allowed = {"alexlib.train.config", "alexlib.train.record", "alexlib.train.inputs.datasets",
               "alexlib.train.net.shapes", "alexlib.train.net.norms", "alexlib.train"}
    used = {t for src, ts in graph().items() if folder(src) == "report" for t in ts if folder(t) == "train"}
    assert used <= allowed, used - allowed


def modules_per_folder(pkg: Path) -> dict[str, int]:
    """Each folder of ``pkg`` (relative, "." its top) and the modules in it, its __init__ and __main__ aside."""
    return {str(d.relative_to(pkg)): len([p for p in d.glob("*.py") if p.name not in ("__init__.py", "__main__.py")])
            for d in [pkg, *sorted(q for q in pkg.rglob("*") if q.is_dir() and (q / "__init__.py").is_file())]}


def test_no_folder_over_12_modules_and_at_most_8_on_top():
    """A folder that grows past 12 modules is grouped by job into subfolders; the package's top keeps 8 at most
    (the commands, the shared modules): the tree says where things are."""
    counts = modules_per_folder(PKG)
    crowded = {d: n for d, n in counts.items() if n > MAX_PER_FOLDER}
    assert not crowded, crowded
    assert counts["."] <= MAX_ON_TOP, sorted(p.stem for p in PKG.glob("*.py") if p.stem not in ("__init__", "__main__"))


def test_the_count_rule_can_fail(tmp_path, monkeypatch):
    """A 13th module in a copy of grid/, and a 9th on top, are caught."""
    import shutil
    copy = tmp_path / "alexlib"
    shutil.copytree(PKG, copy, ignore=shutil.ignore_patterns("__pycache__"))
    grid = modules_per_folder(copy)["grid"]
    for i in range(MAX_PER_FOLDER + 1 - grid):
        (copy / "grid" / f"extra{i}.py").write_text("")
    for i in range(MAX_ON_TOP + 1 - modules_per_folder(copy)["."]):
        (copy / f"extra{i}.py").write_text("")
    monkeypatch.setattr(sys.modules[__name__], "PKG", copy)
    with __import__("pytest").raises(AssertionError, match="grid"):
        test_no_folder_over_12_modules_and_at_most_8_on_top()
    for p in (copy / "grid").glob("extra*.py"):
        p.unlink()
    with __import__("pytest").raises(AssertionError, match="extra0"):
        test_no_folder_over_12_modules_and_at_most_8_on_top()


REPORT_LAYERS = ("inference", "domain", "render")   # bottom to top: each may import those before it
PURE = ("pandas", "matplotlib", "seaborn", "IPython")   # what inference/ never imports (and domain/ no plotting)


def report_layer(module: str) -> str | None:
    parts = module.split(".")
    if parts[:2] != ["alexlib", "report"] or len(parts) < 3:
        return None
    return parts[2] if parts[2] in REPORT_LAYERS else "facade"


def test_the_report_layers_import_only_downwards():
    bad = []
    for src, targets in graph().items():
        s = report_layer(src)
        if s is None or s == "facade":
            continue
        for t in targets:
            lt = report_layer(t)
            if lt == "facade" and t != "alexlib.report" or (lt in REPORT_LAYERS
                                                             and REPORT_LAYERS.index(lt) > REPORT_LAYERS.index(s)):
                bad.append(f"{src} -> {t}")
    assert not bad, bad


def third_party(p: Path) -> set[str]:
    out = set()
    for n in ast.walk(ast.parse(p.read_text())):
        if isinstance(n, ast.Import):
            out |= {a.name.split(".")[0] for a in n.names}
        elif isinstance(n, ast.ImportFrom) and not n.level and n.module:
            out.add(n.module.split(".")[0])
    return out


def test_inference_is_plain_numbers_and_the_domain_draws_nothing():
    bad = []
    for p in (PKG / "report" / "inference").rglob("*.py"):
        bad += [f"{p.name} imports {m}" for m in third_party(p) & set(PURE)]
    for p in (PKG / "report" / "domain").rglob("*.py"):
        bad += [f"{p.name} imports {m}" for m in third_party(p) & {"matplotlib", "seaborn", "IPython"}]
    assert not bad, bad


def test_the_layer_rule_can_fail(tmp_path, monkeypatch):
    """A domain module that imports a renderer, in a copy of the package, is caught."""
    import shutil
    copy = tmp_path / "alexlib"
    shutil.copytree(PKG, copy)
    (copy / "report" / "domain" / "sneaky.py").write_text("from ..render import tables\n")
    monkeypatch.setattr(sys.modules[__name__], "PKG", copy)
    monkeypatch.setattr(sys.modules[__name__], "REPO", tmp_path)
    g = graph()
    assert "alexlib.report.render.tables" in g["alexlib.report.domain.sneaky"]
    with __import__("pytest").raises(AssertionError, match="sneaky"):
        test_the_report_layers_import_only_downwards()


def test_every_module_has_a_test_file():
    """tests/ mirrors the package: alexlib/a/b.py is tested in tests/a/test_b.py (a package's __init__ and
    __main__ by the tests of what they expose)."""
    missing = []
    for p in PKG.rglob("*.py"):
        if p.name in ("__init__.py", "__main__.py"):
            continue
        rel = p.relative_to(PKG)
        if not (REPO / "tests" / rel.parent / f"test_{p.name}").exists():
            missing.append(str(rel))
    assert not missing, missing


def test_no_import_cycle():
    g = graph()
    index, low, on, stack, cycles, counter = {}, {}, set(), [], [], [0]

    def visit(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in g.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                cycles.append(sorted(comp))
    for v in g:
        if v not in index:
            visit(v)
    assert not cycles, cycles


def test_the_checker_sees_a_forbidden_import(tmp_path, monkeypatch):
    """The rule can fail: a report module that imports the grid, written into a copy of the package."""
    import shutil
    copy = tmp_path / "alexlib"
    shutil.copytree(PKG, copy)
    (copy / "report" / "sneaky.py").write_text("def f():\n    from ..grid import plan\n    return plan\n")
    monkeypatch.setattr(sys.modules[__name__], "PKG", copy)
    monkeypatch.setattr(sys.modules[__name__], "REPO", tmp_path)
    g = graph()
    assert "alexlib.grid.plan" in g["alexlib.report.sneaky"]
    bad = [t for t in g["alexlib.report.sneaky"] if folder(t) == "grid"]
    assert bad


def test_no_module_over_400_lines_and_no_class_over_200():
    long = []
    for p in PKG.rglob("*.py"):
        text = p.read_text()
        if len(text.splitlines()) > 400:
            long.append(f"{p.relative_to(REPO)}: {len(text.splitlines())} lines")
        for n in ast.walk(ast.parse(text)):
            if isinstance(n, ast.ClassDef) and n.end_lineno - n.lineno + 1 > 200:
                long.append(f"{p.relative_to(REPO)}:{n.name}: {n.end_lineno - n.lineno + 1} lines")
    assert not long, long


def test_the_report_half_and_the_record_load_without_torch():
    code = ("import sys, alexlib.train.net.norms, alexlib.report.study, alexlib.report.render.export, "
            "alexlib.train.record, alexlib.grid.plan; "
            "print(sorted(m for m in sys.modules if m == 'torch' or m.startswith('torch.')))")
    r = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "[]"


def test_the_run_notebooks_import_still_works_and_loads_the_loop_when_used():
    code = ("import sys; from alexlib.train import train; import alexlib.train.run.loop as L; "
            "print(train is L.train)")
    r = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=120)
    assert r.returncode == 0 and r.stdout.strip() == "True", r.stderr


def test_every_module_path_a_comment_or_doc_names_exists():
    """A docstring, comment or doc that names ``alexlib.x.y`` or ``alexlib/x/y.py`` names a module that is there
    (a module, or one attribute of one): a moved module leaves no stale pointer behind."""
    import re
    files = sorted(PKG.rglob("*.py")) + sorted((REPO / "docs").glob("*.md")) + [REPO / "README.md"] + \
        sorted((REPO / "notebooks").glob("*.ipynb"))
    mods = {module_name(p) for p in PKG.rglob("*.py")}
    stale = []
    for f in files:
        text = f.read_text()
        for name in set(re.findall(r"alexlib(?:\.[a-z_]\w*)+", text)):
            parts = name.split(".")
            k = max((k for k in range(1, len(parts) + 1) if ".".join(parts[:k]) in mods), default=0)
            if k < len(parts) - 1 or (k == 1 and parts[1] not in ("__file__", "__version__")):
                stale.append(f"{f.relative_to(REPO)}: {name}")
        stale += [f"{f.relative_to(REPO)}: {p}" for p in set(re.findall(r"alexlib/[\w/]+\.py", text))
                  if not (REPO / p).is_file()]
    assert not stale, stale
