"""`python -m training plots-template --node-modules DIR --out FILE`: the offline template of `python -m training plots`.

`dvc plots show` writes HTML that loads vega, vega-lite and vega-embed from a CDN: blank on a machine
without internet. This builds an HTML template with the three libraries inlined (from the npm registry,
installed by `make setup`), without the ``{scripts}`` placeholder through which DVC would add its CDN tags;
``{plot_divs}`` is where the plots go.

    python -m training plots-template --node-modules .cache/vega/node_modules --out .cache/dvc_plots_template.html
"""
from __future__ import annotations

import argparse
import logging
from pathlib import Path

from core import io
from core.cli import stage_main

log = logging.getLogger(__name__)

# vega 5.33 / vega-lite 5.23 / vega-embed 6.29 (npm), the v5 line DVC's specs use; inlined in this order.
LIBRARIES = ("vega/build/vega.min.js", "vega-lite/build/vega-lite.min.js", "vega-embed/build/vega-embed.min.js")

PAGE = """<!DOCTYPE html>
<html>
<head>
  <meta charset="utf-8">
  <title>Training and evaluation plots</title>
  {inline}
  <style>table {{ border-spacing: 15px; }} body {{ font-family: sans-serif; }}</style>
</head>
<body>
  {{plot_divs}}
</body>
</html>
"""


def build_template(node_modules: Path) -> str:
    """The template text: PAGE with each library's code in its own <script> element."""
    scripts = []
    for relative in LIBRARIES:
        path = node_modules / relative
        if not path.is_file():
            raise FileNotFoundError(f"{path}: missing (run `make setup`, which installs vega, vega-lite "
                                    "and vega-embed from the npm registry)")
        code = path.read_text().replace("</script", "<\\/script")
        scripts.append(f"<script type=\"text/javascript\">\n{code}\n</script>")
    return PAGE.format(inline="\n".join(scripts))


def _add_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--node-modules", type=Path, required=True, help="npm folder holding vega, vega-lite, vega-embed")
    parser.add_argument("--out", type=Path, required=True, help="template file to write")


def _run(args: argparse.Namespace) -> None:
    io.write_text(args.out, build_template(args.node_modules))
    log.info("wrote %s", args.out)


def main(argv: list[str] | None = None) -> int:
    return stage_main("python -m training plots-template", __doc__, None, None, _add_args, _run, argv)
