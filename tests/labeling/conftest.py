"""Fixtures shared by the labeling tests. ``fiftyone_db`` lives here, once, so that every module shares
one session-scoped database (a fixture imported into two modules would be two session fixtures, and the
second would find FiftyOne already connected)."""
from tests.labeling._people_fixtures import fiftyone_db  # noqa: F401
