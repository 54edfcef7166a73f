"""DVC plots that render offline.

`dvc plots show` writes HTML that loads vega, vega-lite and vega-embed from a CDN: blank on a machine
without internet. ``plots-template`` builds an HTML template with the three libraries inlined (from the
npm registry, installed by `make setup`), without the ``{scripts}`` placeholder through which DVC
would add its CDN tags; ``plots`` runs `dvc plots show` with it.

    python -m flows plots-template --node-modules .cache/vega/node_modules --out .cache/dvc_plots_template.html
    python -m flows plots --template .cache/dvc_plots_template.html --out reports/plots
"""
from __future__ import annotations

import argparse
import logging
import subprocess
from pathlib import Path

from datasets import io
from datasets.cli import setup_logging
from flows import dvc

log = logging.getLogger(__name__)

# vega 5.33 / vega-lite 5.23 / vega-embed 6.29 (npm), the v5 line DVC's specs use; inlined in this order.
LIBRARIES = ("vega/build/vega.min.js", "vega-lite/build/vega-lite.min.js", "vega-embed/build/vega-embed.min.js")

PAGE = """<!DOCTYPE html>
<html>
<head>
  <meta charset="utf-8">
  <title>DVC plots</title>
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


def show(template: Path, out: Path) -> Path:
    """Run `dvc plots show` with the offline template; returns the HTML file it wrote."""
    if not template.is_file():
        raise FileNotFoundError(f"{template}: no offline plots template (run `make setup`)")
    subprocess.run([*dvc.DVC, "plots", "show", "--html-template", str(template), "-o", str(out)], check=True)
    return out / "index.html"


def main_template(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m flows plots-template", description=__doc__)
    parser.add_argument("--node-modules", type=Path, required=True, help="npm folder holding vega, vega-lite, vega-embed")
    parser.add_argument("--out", type=Path, required=True, help="template file to write")
    args = parser.parse_args(argv)
    setup_logging()
    io.write_text(args.out, build_template(args.node_modules))
    log.info("wrote %s", args.out)
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m flows plots", description=__doc__)
    parser.add_argument("--template", type=Path, default=Path(".cache/dvc_plots_template.html"))
    parser.add_argument("--out", type=Path, default=Path("reports/plots"))
    args = parser.parse_args(argv)
    setup_logging()
    log.info("wrote %s", show(args.template, args.out))
    return 0
