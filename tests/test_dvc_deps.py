"""Every dvc.yaml stage depends on the project code its command runs (issue 12).

The import closure of each stage is computed statically: ``python -m <package> <command>`` -> the
module the package's ``__main__`` dispatcher names for the command -> every project module it imports,
at the top or lazily inside a function (``import_module`` with a constant or an f-string prefix
included), with the ``__init__`` of every package on the way, plus the data files a module names by a
string constant beside it (``labeling/scorer_default.json``). Each must lie in a dep of the stage
(the file or a folder above it), or editing it would leave ``dvc status`` "up to date".
"""
from __future__ import annotations

import ast
import shlex
from functools import lru_cache
from pathlib import Path

import pytest
import yaml

from core.config import read_params

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("core", "datasets", "labeling", "training", "flows")


def module_file(name: str) -> Path | None:
    """The file of project module ``name`` (``a.b`` -> a/b.py or a/b/__init__.py), None if not ours."""
    if name.split(".")[0] not in PACKAGES:
        return None
    base = ROOT.joinpath(*name.split("."))
    for path in (base.with_suffix(".py"), base / "__init__.py"):
        if path.is_file():
            return path
    return None


def _with_parents(name: str) -> list[str]:
    parts = name.split(".")
    return [".".join(parts[:i]) for i in range(1, len(parts) + 1)]


def _package_of(path: Path) -> str:
    rel = path.relative_to(ROOT).with_suffix("")
    parts = rel.parts[:-1] if rel.name == "__init__" else rel.parts
    return ".".join(parts)


@lru_cache(maxsize=None)
def direct_imports(path: Path) -> frozenset[str]:
    """Project modules ``path`` imports anywhere in its body (names, not yet resolved to files)."""
    tree = ast.parse(path.read_text(), str(path))
    package = _package_of(path) if path.name == "__init__.py" else _package_of(path).rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join(anchor + ([base] if base else []))
            found.add(base)
            found.update(f"{base}.{alias.name}" for alias in node.names)  # submodules; non-modules drop out
        elif (isinstance(node, ast.Call) and getattr(node.func, "attr", getattr(node.func, "id", "")) == "import_module"
              and node.args):
            arg = node.args[0]
            if isinstance(arg, ast.Constant) and isinstance(arg.value, str):
                found.add(arg.value)
            elif isinstance(arg, ast.JoinedStr) and arg.values and isinstance(arg.values[0], ast.Constant):
                prefix = str(arg.values[0].value).rstrip(".")  # f"datasets.readers.{fmt}": the whole package
                found.add(prefix)
                folder = module_file(prefix)
                if folder is not None and folder.name == "__init__.py":
                    found.update(f"{prefix}.{p.stem}" for p in folder.parent.glob("*.py") if p.stem != "__init__")
    return frozenset(m for m in found if m.split(".")[0] in PACKAGES)


def data_files(path: Path) -> set[Path]:
    """Non-Python files beside ``path`` that it names by a string constant (``"scorer_default.json"``)."""
    tree = ast.parse(path.read_text(), str(path))
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and 0 < len(node.value) < 200 \
                and "\n" not in node.value and "\x00" not in node.value:
            candidate = path.parent / node.value
            try:
                if candidate.is_file() and candidate.suffix != ".py":
                    found.add(candidate.resolve())
            except OSError:
                continue
    return found


def closure(module: str) -> set[Path]:
    """Every project file running ``module`` imports or reads (see the module docstring)."""
    todo = [m for name in [module] for m in _with_parents(name)]
    seen: set[str] = set()
    files: set[Path] = set()
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        seen.add(name)
        path = module_file(name)
        if path is None:
            continue
        files.add(path)
        files |= data_files(path)
        for imported in direct_imports(path):
            todo.extend(_with_parents(imported))
    return files


def dispatched_module(package: str, command: str) -> str:
    """The module ``python -m package command`` runs, read from ``package/__main__.py``'s COMMANDS."""
    tree = ast.parse((ROOT / package / "__main__.py").read_text())
    for node in ast.walk(tree):
        target = node.target if isinstance(node, ast.AnnAssign) else (node.targets[0] if isinstance(node, ast.Assign)
                                                                      else None)
        if isinstance(target, ast.Name) and target.id == "COMMANDS":
            commands = ast.literal_eval(node.value)
            entry = commands[command]
            return entry if isinstance(entry, str) else entry[0]
    raise AssertionError(f"{package}/__main__.py has no COMMANDS")


# the pipelines: dvc.yaml, and the release pipeline (release/pipeline.yaml, run from the root as release/dvc.yaml)
PIPELINES = {"": ("dvc.yaml", "params.yaml"), "release:": ("release/pipeline.yaml", "release/params.yaml")}


def stages() -> dict[str, dict]:
    """name -> stage of each pipeline, foreach stages expanded over its params (``name@key``)."""
    out = {}
    for prefix, (pipeline_file, params_file) in PIPELINES.items():
        pipeline = yaml.safe_load((ROOT / pipeline_file).read_text())["stages"]
        params = read_params(ROOT / params_file)
        for name, stage in pipeline.items():
            if "foreach" not in stage:
                out[prefix + name] = stage
                continue
            foreach = stage["foreach"]
            over = params[foreach.strip("${} ")] if isinstance(foreach, str) else {k: {} for k in foreach}
            for key, item in over.items():
                text = yaml.safe_dump(stage["do"]).replace("${key}", key).replace("${item}", key)
                for field, value in item.items():
                    text = text.replace("${item.%s}" % field, str(value))
                out[f"{prefix}{name}@{key}"] = yaml.safe_load(text)
    return out


def stage_modules(cmd: str) -> list[str]:
    """The project modules a stage command runs (``python -m pkg sub`` or ``python -m pkg.module``)."""
    words = shlex.split(cmd)
    found = []
    for i, word in enumerate(words[:-1]):
        if word == "-m" and words[i - 1].startswith("python"):
            target = words[i + 1]
            if target in PACKAGES:
                found.append(dispatched_module(target, words[i + 2]))
            elif target.split(".")[0] in PACKAGES:
                found.append(target)
    return found


def dep_paths(stage: dict) -> list[Path]:
    deps = []
    for dep in stage.get("deps", []):
        deps.append((ROOT / (dep if isinstance(dep, str) else next(iter(dep)))).resolve())
    return deps


STAGES = stages()


@pytest.mark.parametrize("name", sorted(STAGES))
def test_stage_deps_cover_its_import_closure(name):
    stage = STAGES[name]
    deps = dep_paths(stage)
    needed = set().union(*(closure(m) for m in stage_modules(stage["cmd"]))) if stage_modules(stage["cmd"]) else set()
    missing = sorted(p.relative_to(ROOT).as_posix() for p in needed
                     if not any(p == d or d in p.parents for d in deps))
    assert not missing, f"dvc.yaml stage {name}: add to its deps {missing}"


def test_the_closure_follows_lazy_imports_and_data_files():
    ingest = {p.relative_to(ROOT).as_posix() for p in closure("datasets.ingest")}
    assert {"datasets/__init__.py", "datasets/readers/coco.py", "datasets/store.py"} <= ingest  # import_module
    clean = {p.relative_to(ROOT).as_posix() for p in closure("labeling.clean")}
    assert {"labeling/scorer_default.json", "datasets/masks.py"} <= clean


def test_make_release_can_put_its_pipeline_in_place(tmp_path):
    """`make release` copies release/pipeline.yaml to release/dvc.yaml and runs it: DVC refuses a dvc.yaml that
    git ignores, so the copy must not be ignored, and DVC must read it as the release's stages."""
    import subprocess
    import sys

    assert subprocess.run(["git", "check-ignore", "-q", "release/dvc.yaml"], cwd=ROOT).returncode == 1
    clone = tmp_path / "repo"
    subprocess.run(["git", "clone", "-q", str(ROOT), str(clone)], check=True)
    (clone / "release" / "dvc.yaml").write_text((ROOT / "release" / "pipeline.yaml").read_text())
    listed = subprocess.run([sys.executable, "-m", "dvc", "stage", "list", "release/dvc.yaml", "--name-only"],
                            cwd=clone, capture_output=True, text=True)
    assert listed.returncode == 0, listed.stderr
    assert {"release/dvc.yaml:train", "release/dvc.yaml:testclips"} <= set(listed.stdout.split())
