"""The ``synthesize`` section of params.yaml: one frozen dataclass per component, validated on construction."""
from __future__ import annotations

from dataclasses import dataclass, field

from datasets.store import SPLITS
from datasets.synthesis.backgrounds import BackgroundParams
from datasets.synthesis.camera import CameraParams
from datasets.synthesis.checks import check_between
from datasets.synthesis.clips import ClipParams
from datasets.synthesis.composite import LookParams
from datasets.synthesis.foreground import ForegroundParams
from datasets.synthesis.placement import PlacementParams
from datasets.synthesis.priors import PriorParams
from datasets.synthesis.warp import WarpParams


@dataclass(frozen=True)
class SynthesisParams:
    """Everything ``python -m datasets synthesize`` draws from; the paths are CLI arguments, and the CLI's
    --count/--seed/--size/--clips override the values here (the pipeline uses these, so DVC tracks them)."""
    count: int = 300  # composites to make, >= 0 (0: clips only)
    seed: int = 0  # random seed: same seed, same bytes
    size: str = "640x360"  # output WIDTHxHEIGHT (16:9 of video calls)
    clip_count: int = 2  # clips of `clips.frames` frames each (for temporal metrics), >= 0
    # render processes, 1..64, each given >= 128 frames (outputs do not depend on it); measured on 2 shared
    # cores: 1 process 44 composites/s, 2 processes 26/s (spawn start-up and contention), so 1 by default
    workers: int = 1
    min_person_pixels: int = 64  # samples with fewer person pixels (alpha >= 0.5) are skipped as tiny_alpha, >= 1
    contact_sheet_rows: int = 8  # composites shown in the contact sheet, 1..64
    splits: tuple[str, ...] = ("train", "val", "test")  # the store's samples drawn from (test clips: ("test",))
    # store `source` name -> times each of its samples enters the composites' draw (others: 1), e.g. the few
    # real portraits {portraits: 10}: more composites of them (clips are drawn evenly)
    source_repeat: dict[str, int] = field(default_factory=dict)
    placement: PlacementParams = field(default_factory=PlacementParams)
    warp: WarpParams = field(default_factory=WarpParams)
    foreground: ForegroundParams = field(default_factory=ForegroundParams)
    look: LookParams = field(default_factory=LookParams)
    camera: CameraParams = field(default_factory=CameraParams)
    priors: PriorParams = field(default_factory=PriorParams)
    clips: ClipParams = field(default_factory=ClipParams)
    backgrounds: BackgroundParams = field(default_factory=BackgroundParams)

    def __post_init__(self):
        check_between("count", self.count, 0, 10**9)
        check_between("clip_count", self.clip_count, 0, 10**6)
        check_between("workers", self.workers, 1, 64)
        check_between("min_person_pixels", self.min_person_pixels, 1, 10**9)
        check_between("contact_sheet_rows", self.contact_sheet_rows, 1, 64)
        for source, times in self.source_repeat.items():
            check_between(f"source_repeat.{source}", times, 1, 10**4)
        if not self.splits or set(self.splits) - set(SPLITS):
            raise ValueError(f"`synthesize.splits` should be a non-empty list among {list(SPLITS)}, got {self.splits!r}")
