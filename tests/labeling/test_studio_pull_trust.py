"""`labeling studio pull` trusts no task data (issue 12), against the real Label Studio server: a
crafted round whose tasks hold a `../` sample id, an absolute ensemble path out of the document root,
a declared size of 100000x100000 and a non-image ensemble; the bad tasks are rows with a reason, the
good task's mask lands, nothing is written or read outside the round folder / document root."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from core import io
from datasets.store import Store
from labeling import brush, studio
from tests.labeling._people_fixtures import make_store, write_params

ROUND = 7  # a round of its own: the other studio tests use round 1


def test_pull_skips_untrusted_tasks_and_lands_the_rest(studio_server, studio_params, tmp_path):
    root = Path(studio_params.document_root)
    store = make_store(root / "stores" / "crafted", "crafted", 4, seed=11)
    samples = Store(store).samples
    secret = tmp_path / "outside" / "secret.png"
    io.write_png(secret, np.full((32, 40), 255, np.uint8))
    io.write_text(root / "labels" / "crafted" / "not-an-image.png", "not a PNG")
    client = studio.connect(studio_params)
    title = studio.project_title(studio_params, ROUND)
    project = client.projects.create(title=title, label_config=studio.label_config(studio_params.label))

    def data(i: int, **changes) -> dict:
        row = samples.iloc[i]
        image = (store / row.image).relative_to(root).as_posix()
        return {"image": f"/data/local-files/?d={image}", "sample_id": row.id, "store": "crafted",
                "round": ROUND, "width": int(row.width), "height": int(row.height), "ensemble": None, **changes}

    tasks = [
        data(0),  # a good task: its mask lands
        data(1, sample_id="../../escaped"),  # would write <round>/../../escaped.png
        data(2, ensemble=str(secret)),  # an absolute path out of the document root: never read
        data(3, width=100000, height=100000, ensemble="labels/crafted/not-an-image.png"),  # size + non-image
    ]
    ids = client.projects.import_tasks(id=project.id, request=[{"data": d} for d in tasks],
                                       return_task_ids=True).task_ids
    person = np.zeros((32, 40), np.uint8)
    person[4:28, 10:30] = 255
    region = brush.mask_to_region(person, from_name=studio.FROM_NAME, to_name="image", label=studio_params.label)
    for task_id in ids:
        client.annotations.create(id=task_id, result=[region])

    out = tmp_path / "corrections" / f"round-{ROUND}"
    params_file = write_params(tmp_path / "params.yaml", studio=studio_params)
    assert studio.main(["pull", "--round", str(ROUND), "--out", str(out), "--params", str(params_file)]) == 0

    table = pd.read_parquet(out / "corrections.parquet").set_index("task")
    by_task = dict(zip(ids, ("good", "escape", "outside", "bomb")))
    status = {by_task[t]: s for t, s in table["status"].items()}
    assert status == {"good": "corrected", "escape": "bad_task", "outside": "corrected", "bomb": "corrected"}
    assert "not a sample id" in table.loc[ids[1], "detail"]
    assert "not read" in table.loc[ids[2], "detail"] and table.loc[ids[2], "soft_pixels"] == 0
    assert "stays hard" in table.loc[ids[3], "detail"]
    # masks only as <round>/<id>.png, at the store image's size (not the declared one)
    written = sorted(p.name for p in out.iterdir() if p.suffix == ".png")
    assert written == sorted(f"{samples.id[i]}.png" for i in (0, 2, 3))
    assert io.read_mask(out / f"{samples.id[3]}.png").shape == (32, 40)
    assert not list(tmp_path.glob("**/escaped.png")) and not list(root.glob("**/escaped.png"))
