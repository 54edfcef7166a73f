"""params.yaml `sources` as typed entries: the repository's files load, mistakes name the entry."""
from __future__ import annotations

import pytest

from core.config import ParamsError
from datasets.sources import Source, load_sources


@pytest.mark.parametrize("params", ["params.yaml", "release/params.yaml"])
def test_the_repository_sources_load(params, repo_root):
    sources = load_sources(repo_root / params)
    assert sources and all(isinstance(s, Source) and s.src for s in sources.values())


@pytest.mark.parametrize("entry, match", [
    ("{format: jpeg, src: x}", r"`sources.a.format` should be one of"),
    ("{format: voc, src: x, annotation: y}", r"`sources.a`: unknown key\(s\) \['annotation'\]"),
    ("{format: voc}", r"`sources.a` should be a mapping with `format` and `src`"),
])
def test_a_bad_entry_names_itself(entry, match, tmp_path):
    path = tmp_path / "params.yaml"
    path.write_text(f"sources:\n  a: {entry}\n")
    with pytest.raises(ParamsError, match=match):
        load_sources(path)


def test_no_sources_is_empty(tmp_path):
    path = tmp_path / "params.yaml"
    path.write_text("ingest: {}\n")
    assert load_sources(path) == {}
