"""The command lines people type: `python -m <package>` lists its commands, every option says what it is
for, and a user error ends in one line (its traceback only with -v)."""
from __future__ import annotations

import argparse
import importlib
import subprocess
import sys

import pytest

PACKAGES = ("datasets", "labeling", "training", "flows")


def _commands(package: str) -> dict[str, tuple[str, str]]:
    return importlib.import_module(f"{package}.__main__").COMMANDS


@pytest.mark.parametrize("package", PACKAGES)
def test_help_lists_every_command_and_exits_0(package, repo_root):
    proc = subprocess.run([sys.executable, "-m", package, "--help"], cwd=repo_root, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    for name, (_, help_text) in _commands(package).items():
        assert name in proc.stdout
        assert help_text.split()[0] in proc.stdout


def test_no_command_prints_the_list(capsys):
    from labeling.__main__ import main

    assert main([]) == 2
    assert "autolabel" in capsys.readouterr().err


class _Parsed(Exception):
    """Raised instead of parsing: the parser has been inspected."""


def _undocumented(parser: argparse.ArgumentParser) -> list[str]:
    missing = []
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for sub in action.choices.values():
                missing += [f"{sub.prog} {m}" for m in _undocumented(sub)]
        elif action.option_strings and not action.help:
            missing.append("/".join(action.option_strings))
    return missing


@pytest.mark.parametrize("package", PACKAGES)
def test_every_option_has_help(package, monkeypatch):
    missing = []

    def inspect(self, args=None, namespace=None):
        missing.extend(f"{self.prog}: {m}" for m in _undocumented(self))
        raise _Parsed

    monkeypatch.setattr(argparse.ArgumentParser, "parse_args", inspect)
    for module, _ in _commands(package).values():
        with pytest.raises(_Parsed):
            importlib.import_module(module).main([])
    assert missing == []


def test_user_error_is_one_line_and_traceback_with_v(tmp_path, repo_root):
    cmd = [sys.executable, "-m", "training", "export", "--checkpoint", str(tmp_path / "model.pt"), "--onnx",
           str(tmp_path / "model.onnx"), "--params", str(tmp_path / "nope" / "params.yaml")]
    proc = subprocess.run(cmd, cwd=repo_root, capture_output=True, text=True)
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "nope/params.yaml: no params file" in lines[0] and "-v" in lines[0], proc.stderr
    verbose = subprocess.run([*cmd, "-v"], cwd=repo_root, capture_output=True, text=True)
    assert verbose.returncode != 0 and "Traceback" in verbose.stderr
