"""What every stage entry point shares: the `python -m <package>` dispatcher, the stage kernel
(``stage_main``, and ``actions_main`` for a stage of several actions: options, params, overrides, logging,
exit codes, metrics), logging set-up, progress bars, native stderr capture, metrics files."""
from __future__ import annotations

import argparse
import dataclasses
import importlib
import logging
import os
import re
import sys
import tempfile
import threading
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator, TypeVar

from tqdm.auto import tqdm
from tqdm.contrib.logging import logging_redirect_tqdm

from core import env, io
from core.config import DEFAULT_RANGE, PARAMS_FILE, check_range, load_section

T = TypeVar("T")
log = logging.getLogger(__name__)


# Libraries whose INFO lines are one per HTTP request (Label Studio's SDK, Prefect's client): WARNING.
QUIET_LOGGERS = ("httpx", "httpcore", "urllib3")


def setup_logging(verbose: bool = False) -> None:
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        datefmt="%H:%M:%S",
    )
    for name in QUIET_LOGGERS:
        logging.getLogger(name).setLevel(logging.DEBUG if verbose else logging.WARNING)
    for name in OWN_HANDLERS:
        logging.getLogger(name).propagate = False


# Libraries that print their log through a handler of their own (FiftyOne, its ETA toolkit): not twice.
OWN_HANDLERS = ("fiftyone", "eta")


def progress(items: Iterable[T], desc: str, total: int | None = None, unit: str = "it",
             size: Callable[[T], int] | None = None) -> Iterator[T]:
    """A tqdm bar on stderr that hides itself when stderr is not a terminal (CI, DVC logs).

    ``size(item)`` is how many ``unit`` an item counts for (a batch of 16 samples: ``size=len``,
    ``unit="sample"``, ``total`` in samples). Log lines written while the bar runs print above it.
    """
    bar = tqdm(total=total, desc=desc, unit=unit, disable=not sys.stderr.isatty(), leave=False)
    with bar, logging_redirect_tqdm():
        for item in items:
            yield item
            bar.update(size(item) if size else 1)


@contextmanager
def native_stderr(what: str) -> Iterator[None]:
    """Capture what native code writes straight to file descriptor 2 while the block runs.

    TFLite, absl and glog (MediaPipe) print their start-up chatter there from C++, past Python's
    logging and past GLOG_minloglevel / TF_CPP_MIN_LOG_LEVEL. The text is logged at DEBUG (shown with
    -v). The capture is process-wide: keep the block short (loading a model, not a loop). Lines of
    this process's own log (setup_logging's format) caught meanwhile are written out unchanged.
    """
    with _NATIVE_LOCK, tempfile.TemporaryFile() as sink:
        sys.stderr.flush()
        saved = os.dup(2)
        os.dup2(sink.fileno(), 2)
        try:
            yield
        finally:
            sys.stderr.flush()
            os.dup2(saved, 2)
            os.close(saved)
            sink.seek(0)
            lines = sink.read().decode(errors="replace").splitlines()
            ours = [line for line in lines if _OWN_LOG_LINE.match(line)]
            if ours:
                sys.stderr.write("\n".join(ours) + "\n")
            native = "\n".join(line for line in lines if line.strip() and not _OWN_LOG_LINE.match(line))
            if native:
                log.debug("%s wrote to stderr:\n%s", what, native)


_OWN_LOG_LINE = re.compile(r"^\d\d:\d\d:\d\d (DEBUG|INFO|WARNING|ERROR|CRITICAL) ")  # setup_logging's format


_NATIVE_LOCK = threading.Lock()


def run_command(prog: str, description: str, commands: dict[str, tuple[str, str]],
                argv: list[str] | None = None) -> int:
    """``python -m <package> <command> ...``: dispatch to ``commands[command][0]``'s ``main(argv)``.

    ``commands``: name -> (module, one-line help). ``--help`` (or no command) lists the commands;
    a user error (a bad path, a bad param, a server that does not answer) ends in one line, and
    in its traceback only with -v/--verbose.
    """
    env.apply()  # before a command's module imports torch, FiftyOne or Prefect
    argv = sys.argv[1:] if argv is None else list(argv)
    if argv and argv[0] in commands:
        module = importlib.import_module(commands[argv[0]][0])
        try:
            return module.main(argv[1:]) or 0
        except USER_ERRORS as e:
            if "-v" in argv or "--verbose" in argv:
                raise
            print(f"{prog} {argv[0]}: error: {e} ({type(e).__name__}; -v shows the traceback)", file=sys.stderr)
            return 2
        except KeyboardInterrupt:
            print(f"{prog} {argv[0]}: interrupted", file=sys.stderr)
            return 130
    parser = argparse.ArgumentParser(prog=prog, description=description,
                                     epilog=f"`{prog} COMMAND --help` describes a command's options.")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", title="commands")
    for name, (_, help_text) in commands.items():
        sub.add_parser(name, help=help_text, add_help=False)
    parser.parse_args(argv)  # --help exits 0, an unknown command exits 2, both with the list
    parser.print_help(sys.stderr)  # no command at all
    return 2


# What a user can cause and fix: missing files, bad params or input, a server that does not answer
# (every project error derives from one of these). Anything else keeps its traceback.
USER_ERRORS = (OSError, ValueError, RuntimeError)


class StageFailed(RuntimeError):
    """The stage ran and failed on its own figures (too much quarantined, ...): they are written, exit 1."""

    def __init__(self, message: str, figures: dict[str, Any]):
        super().__init__(message)
        self.figures = figures


def stage_main(prog: str, doc: str, section: str | None, params_cls: type | None,
               add_args: Callable[[argparse.ArgumentParser], None], run: Callable[..., dict[str, Any] | None],
               argv: list[str] | None = None, *, overrides: dict[str, str] | None = None,
               metrics_help: str = "write the stage's figures here (JSON)") -> int:
    """A stage's ``main``: parse, set up logging, load params, apply CLI overrides, run, write metrics.

    ``add_args(parser)`` adds the stage's own options; the kernel adds ``--params`` (when the stage has a
    params ``section``), ``--metrics`` and ``-v/--verbose``. ``run(params, args)`` (``run(args)`` without a
    section) returns the figures to write to ``--metrics``. ``overrides`` maps an option's dest to the params
    field it replaces when given (dotted for a nested dataclass: ``clips.frames``), so ``run`` reads every
    setting from ``params`` alone. Exit codes: 0 done; 1 ``StageFailed`` (its figures are written); 2 a user
    error (``USER_ERRORS``: a bad path, param or input), logged in one line, its traceback only with -v, or a
    ``UsageError`` (options that do not go together), said with the usage as argparse says its own errors.
    """
    parser = argparse.ArgumentParser(prog=prog, description=doc.strip().splitlines()[0])
    add_args(parser)
    _kernel_args(parser, section, metrics_help)
    return _run_stage(parser, parser.parse_args(argv), section, params_cls, run, overrides or {})


@dataclass(frozen=True)
class Action:
    """One action of a stage that has several (``python -m labeling studio push``), for ``actions_main``."""
    help: str  # one line, in the stage's --help
    add_args: Callable[[argparse.ArgumentParser], None]  # the action's own options
    run: Callable[..., dict[str, Any] | None]  # as stage_main's ``run``
    overrides: dict[str, str] = field(default_factory=dict)  # as stage_main's ``overrides``
    metrics_help: str | None = "write the stage's figures here (JSON)"  # None: the action has no --metrics


def actions_main(prog: str, doc: str, section: str | None, params_cls: type | None, actions: dict[str, Action],
                 argv: list[str] | None = None) -> int:
    """``stage_main`` for a stage of several actions: ``prog ACTION [options]``, each action with its own
    options and the kernel's (``--params``, ``--metrics`` unless it has none, ``-v``), run as a stage."""
    parser = argparse.ArgumentParser(prog=prog, description=doc.strip().splitlines()[0])
    sub = parser.add_subparsers(dest="action", required=True)
    for name, action in actions.items():
        action_parser = sub.add_parser(name, help=action.help)
        action.add_args(action_parser)
        _kernel_args(action_parser, section, action.metrics_help)
    args = parser.parse_args(argv)
    action = actions[args.action]
    return _run_stage(parser, args, section, params_cls, action.run, action.overrides)


class UsageError(ValueError):
    """Options that do not go together (found while running): the kernel says it as argparse does, exit 2."""


def comma_list(value: str) -> list[str] | None:
    """An argparse ``type``: ``"a, b,"`` -> ``["a", "b"]``; an empty list -> None (as if the option were not given)."""
    return [v.strip() for v in value.split(",") if v.strip()] or None


def _kernel_args(parser: argparse.ArgumentParser, section: str | None, metrics_help: str | None) -> None:
    if section is not None:
        parser.add_argument("--params", type=Path, default=PARAMS_FILE,
                            help=f"params file (section `{section}`; default: {PARAMS_FILE})")
    if metrics_help is None:
        parser.set_defaults(metrics=None)
    else:
        parser.add_argument("--metrics", type=Path, help=metrics_help)
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging and full tracebacks")


def _run_stage(parser: argparse.ArgumentParser, args: argparse.Namespace, section: str | None,
               params_cls: type | None, run: Callable[..., dict[str, Any] | None], overrides: dict[str, str]) -> int:
    setup_logging(args.verbose)
    prog = parser.prog if getattr(args, "action", None) is None else f"{parser.prog} {args.action}"
    try:
        if section is None:
            figures = run(args)
        else:
            params = with_overrides(load_section(section, params_cls, args.params), args, overrides)
            figures = run(params, args)
    except UsageError as e:
        parser.error(str(e))
    except StageFailed as e:
        write_metrics(args.metrics, e.figures)
        log.error("%s: %s", prog, e)
        return 1
    except USER_ERRORS as e:
        if args.verbose:
            raise
        log.error("%s: error: %s (%s; -v shows the traceback)", prog, e, type(e).__name__)
        return 2
    if int(os.environ.get("RANK", "0")) == 0:  # under torchrun, rank 0 alone writes the stage's figures
        write_metrics(args.metrics, figures or {})
    return 0


def with_overrides(params: T, args: argparse.Namespace, overrides: dict[str, str]) -> T:
    """``params`` with each option of ``overrides`` (dest -> field) that was given in place of its field.

    A numeric value is checked against the field's range (``RANGES``, as in params) and the dataclass's own
    checks run again (``dataclasses.replace``), so an option is validated like the param it replaces.
    """
    for dest, field in overrides.items():
        value = getattr(args, dest)
        if value is not None:
            params = _replace(params, field.split("."), value, "--" + dest.replace("_", "-"))
    return params


def _replace(obj: Any, path: list[str], value: Any, option: str) -> Any:
    name, *rest = path
    if rest:
        value = _replace(getattr(obj, name), rest, value, option)
    elif isinstance(value, (int, float)) and not isinstance(value, bool):
        check_range(value, getattr(type(obj), "RANGES", {}).get(name, DEFAULT_RANGE), option)
    return dataclasses.replace(obj, **{name: value})


def write_metrics(path: Path | str | None, metrics: dict[str, Any]) -> None:
    """Write a stage's metrics JSON (atomically); ``None`` writes nothing."""
    if path is not None:
        io.write_json(path, metrics)

