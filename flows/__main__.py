"""`python -m flows <command> ...`: the stage entry points of this package (each a module with main(argv))."""
from __future__ import annotations

import importlib
import sys

import datasets  # noqa: F401  (environment defaults)

# command -> module holding `main(argv: list[str] | None) -> int | None`
COMMANDS: dict[str, str] = {
    "autolabel": "flows.autolabel",
    "ingest": "flows.ingest",
    "label-round": "flows.label_round",
    "pipeline": "flows.pipeline",
    "plots": "flows.plots",
    "retrain": "flows.retrain",
    "serve": "flows.serve",
    "plots-template": "flows.plots_template",
}


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if not argv or argv[0] not in COMMANDS:
        names = ", ".join(sorted(COMMANDS)) or "(none yet)"
        print(f"usage: python -m flows {{{names}}} ...", file=sys.stderr)
        return 2
    module = importlib.import_module(COMMANDS[argv[0]])
    return module.main(argv[1:]) or 0


if __name__ == "__main__":
    sys.exit(main())
