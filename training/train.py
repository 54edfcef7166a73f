"""`python -m training train`: fit the matting model on curated samples and/or composites.

AdamW with linear warm-up and cosine decay, seeded, CPU by default (GPU with mixed precision when
one is present). After every epoch the checkpoint at ``--out`` is rewritten atomically with the
model's arguments, the training config, optimizer/scheduler/RNG state and the latest figures, so
``--resume`` continues from it and evaluation needs nothing else. With ``--live-dir`` the loss terms
and validation figures are logged with DVCLive (``metrics.json`` + ``plots/metrics/**.tsv``, one
step per epoch), with no DVC experiment and no dvc.yaml written.
"""
from __future__ import annotations

import logging
import math
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import ClassVar

import numpy as np
import torch
from torch.nn.parallel import DistributedDataParallel
from torch.utils.data import DataLoader, DistributedSampler, RandomSampler

from core.cli import stage_main
from core.config import check_range, check_ranges, load_section
from training import distributed
from training.checkpoint import file_sha256, init_file, init_from, read_checkpoint, save_checkpoint
from training.data import AugmentParams, MattingDataset, OrientedBatches, composite_items, store_items
from training.losses import LossParams, MattingLoss, consistency_loss
from training.model import MattingNet, ModelConfig, count_parameters

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class TrainParams:
    """params.yaml `train:`."""
    seed: int = 0  # seeds torch, numpy and the augmentation draws
    # The defaults are params.yaml's: a gentle fine-tune of the release (from scratch: init "", freeze_norm
    # false, lr 3e-3, max_steps 600+, warmup_steps 20+; the release profile's recipe: release/params.yaml)
    freeze_norm: bool = True  # keep the BatchNorm statistics fixed (fine-tuning `init` on a little, other data)
    init: str = "training/weights/matting.pt"  # start from these weights (a .pt checkpoint); "" = scratch
    epochs: int = 6  # passes over the training items
    max_steps: int = 60  # stop after this many optimizer steps (0 = no limit)
    batch_size: int = 8  # images per step
    lr: float = 3.0e-5  # peak AdamW learning rate
    weight_decay: float = 1.0e-4  # AdamW decay (not on norms and biases)
    warmup_steps: int = 5  # linear warm-up from 0 to lr
    min_lr: float = 0.05  # cosine decay floor, as a fraction of lr
    grad_clip: float = 1.0  # max gradient norm (0 = off)
    # decay of an exponential moving average of the weights, updated after every step (0 = off): the
    # checkpoint's `model` (validated, exported, released) is then the average, `train_model` what the
    # optimizer trains (resume). Release 7 + 3,000 steps, val IoU / Boundary IoU: portraits 0.9618 / 0.739
    # at the last step, 0.9637 / 0.749 averaged at 0.999 (release/ABLATION.md)
    ema: float = 0.0
    num_workers: int = 0  # DataLoader worker processes (0 = load in the training process)
    threads: int = 0  # torch CPU threads (0 = torch's default)
    amp: bool = True  # mixed precision on a GPU (ignored on the CPU)
    device: str = "auto"  # 'auto' (cuda when present, else cpu), 'cpu' or 'cuda'
    store_repeat: int = 4  # each store (real) sample appears this many times per epoch; composites once
    source_repeat: dict[str, int] = field(default_factory=dict)  # per source name, in place of store_repeat
    loss: LossParams = field(default_factory=LossParams)  # loss term weights
    augment: AugmentParams = field(default_factory=AugmentParams)  # augmentation ranges

    # numbers not listed: >= 0 (core.config.DEFAULT_RANGE)
    RANGES: ClassVar[dict[str, str]] = {"epochs": ">= 1", "batch_size": ">= 1", "lr": "> 0", "min_lr": "0..1",
                                        "store_repeat": ">= 1", "ema": "0..1"}

    def __post_init__(self):
        check_ranges(self, "train")
        for source, times in self.source_repeat.items():
            check_range(times, ">= 1", f"train.source_repeat.{source}")


def lr_factor(step: int, total: int, warmup: int, floor: float) -> float:
    """Linear warm-up to 1 over ``warmup`` steps, then cosine to ``floor`` at ``total``."""
    if warmup and step < warmup:
        return (step + 1) / warmup
    progress = min(1.0, (step - warmup) / max(1, total - warmup))
    return floor + (1.0 - floor) * 0.5 * (1.0 + math.cos(math.pi * progress))


def perturb(images: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """A colour/blur/noise-perturbed copy of (B, 3, H, W) images in [0, 1] (for the consistency loss)."""
    b = images.shape[0]
    gain = 1.0 + 0.4 * (torch.rand(b, 3, 1, 1, generator=generator) - 0.5)
    bias = 0.1 * (torch.rand(b, 1, 1, 1, generator=generator) - 0.5)
    out = images * gain.to(images) + bias.to(images)
    out = torch.nn.functional.avg_pool2d(out, 3, stride=1, padding=1, count_include_pad=False)
    out = out + 0.02 * torch.randn(out.shape, generator=generator).to(images)
    return out.clamp(0.0, 1.0)


def _param_groups(model: torch.nn.Module, weight_decay: float) -> list[dict]:
    decay, no_decay = [], []
    for p in model.parameters():
        (decay if p.ndim > 1 else no_decay).append(p)
    return [{"params": decay, "weight_decay": weight_decay}, {"params": no_decay, "weight_decay": 0.0}]


def _items(stores: list[Path], composites: list[Path], split: str, teacher: Path | None, repeat: int = 1,
           source_repeat: dict[str, int] | None = None):
    """The items of ``split``: each store item ``repeat`` times (``source_repeat[its source]`` where named)."""
    source_repeat = source_repeat or {}
    items = []
    for s in stores:
        own = store_items(s, split, teacher)
        times = [source_repeat.get(it.source, repeat) for it in own]
        items += [it for r in range(max(times, default=0)) for it, n in zip(own, times) if n > r]
    for c in composites:
        items += composite_items(c, split)
    return items


def _inputs(batch: dict, in_channels: int, device: torch.device) -> torch.Tensor:
    x = batch["image"]
    if in_channels == 4:
        x = torch.cat([x, batch["prior"]], dim=1)
    return x.to(device, non_blocking=True).contiguous(memory_format=torch.channels_last)


@torch.no_grad()
def train_mode(model: torch.nn.Module, freeze_norm: bool) -> None:
    """Training mode; with ``freeze_norm`` the BatchNorm layers keep their running statistics (eval mode)."""
    model.train()
    if freeze_norm:
        for m in model.modules():
            if isinstance(m, torch.nn.modules.batchnorm._BatchNorm):
                m.eval()


@torch.no_grad()
def validate(model: MattingNet, loader: DataLoader, criterion: MattingLoss, device: torch.device,
             freeze_norm: bool = False) -> dict[str, float]:
    """Mean loss, IoU at 0.5 and MAD x1e3 over the validation loader (at training resolution)."""
    model.eval()
    losses, ious, mads = [], [], []
    for batch in loader:
        logits, coarse = model(_inputs(batch, model.config.in_channels, device), logits=True)
        true = batch["alpha"].to(device)
        losses.append(float(criterion(logits, true, batch["weight"].to(device), coarse)["total"]))
        pred = torch.sigmoid(logits.float())
        p, t = pred >= 0.5, true >= 0.5
        inter = (p & t).flatten(1).sum(1).float()
        union = (p | t).flatten(1).sum(1).float()
        ious += torch.where(union > 0, inter / union.clamp(min=1), torch.ones_like(union)).tolist()
        mads += ((pred - true).abs().flatten(1).mean(1) * 1e3).tolist()
    train_mode(model, freeze_norm)
    return {"loss": float(np.mean(losses)), "iou": float(np.mean(ious)), "mad": float(np.mean(mads))}


def _averaged(model: MattingNet, decay: float, state: dict | None):
    """The exponential moving average of ``model``'s weights and BatchNorm statistics (None when ``decay``
    is 0), resumed from a checkpoint's averaged ``model`` when it has one."""
    if not decay:
        return None
    from torch.optim.swa_utils import AveragedModel, get_ema_multi_avg_fn

    average = AveragedModel(model, multi_avg_fn=get_ema_multi_avg_fn(decay), use_buffers=True)
    if state is not None and "train_model" in state:
        average.module.load_state_dict(state["model"])
        average.n_averaged.fill_(max(1, state["step"]))  # not 0: the next update averages instead of copying
    return average


def released(model: MattingNet, average) -> MattingNet:
    """The weights a checkpoint's ``model`` holds: the average when there is one."""
    return model if average is None else average.module


def _open_live(live_dir: Path | None, resume: bool):
    if live_dir is None:
        return None
    from dvclive import Live

    return Live(str(live_dir), resume=resume, save_dvc_exp=False, dvcyaml=None, report=None)


def run(params: TrainParams, model_config: ModelConfig, out: Path, stores: list[Path] = (),
        composites: list[Path] = (), live_dir: Path | None = None, resume: bool = False,
        teacher: Path | None = None) -> dict:
    """Train and write the checkpoint ``out``; returns the final figures (empty on torchrun ranks other than 0)."""
    stores, composites = [Path(s) for s in stores], [Path(c) for c in composites]
    if not stores and not composites:
        raise ValueError("no training data: pass --store and/or --composites")
    t_start = time.perf_counter()
    if params.threads:
        torch.set_num_threads(params.threads)
    device = torch.device("cuda" if params.device == "auto" and torch.cuda.is_available() else
                          ("cpu" if params.device == "auto" else params.device))
    world = distributed.setup(device.type)
    if device.type == "cuda" and world.size > 1:
        device = torch.device("cuda", world.local_rank)
    try:
        return _run(params, model_config, out, stores, composites, live_dir, resume, teacher, device, world,
                    t_start)
    finally:
        distributed.teardown(world)


def _run(params: TrainParams, model_config: ModelConfig, out: Path, stores: list[Path], composites: list[Path],
         live_dir: Path | None, resume: bool, teacher: Path | None, device: torch.device,
         world: distributed.World, t_start: float) -> dict:
    torch.manual_seed(params.seed)
    np.random.seed(params.seed)
    with_prior = model_config.in_channels == 4
    w, h = model_config.input_width, model_config.input_height
    train_items = _items(stores, composites, "train", teacher, params.store_repeat, params.source_repeat)
    known = {it.source for it in train_items if it.kind == "store"}
    unknown = sorted(set(params.source_repeat) - known)
    if unknown:
        raise ValueError(f"`train.source_repeat` names {unknown}, which no training store holds "
                         f"(their sources: {sorted(known)}); fix the name or remove it")
    train_ds = MattingDataset(train_items, w, h, params.augment, params.seed, with_prior)
    val_items = _items(stores, composites, "val", None)
    val_loader = None
    if val_items and world.main:
        val_loader = DataLoader(MattingDataset(val_items, w, h, None, params.seed, with_prior),
                                batch_size=params.batch_size, num_workers=params.num_workers)
    else:
        log.warning("no validation items (no 'val' rows in the store/composites): validation is skipped")
    drop_last = len(train_ds) >= params.batch_size * world.size
    steps_per_epoch = len(train_ds) // (params.batch_size * world.size) if drop_last else 1
    total = params.epochs * steps_per_epoch
    if params.max_steps:
        total = min(total, params.max_steps)

    model = MattingNet(model_config).to(device, memory_format=torch.channels_last)  # CPU: ~13% faster steps
    optimizer = torch.optim.AdamW(_param_groups(model, params.weight_decay), lr=params.lr)
    scheduler = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda s: lr_factor(s, total, params.warmup_steps, params.min_lr))
    use_amp = params.amp and device.type == "cuda"
    amp_dtype = torch.bfloat16 if use_amp and torch.cuda.is_bf16_supported() else torch.float16
    scaler = torch.amp.GradScaler("cuda", enabled=use_amp and amp_dtype == torch.float16)
    criterion = MattingLoss(params.loss)
    step, start_epoch, figures = 0, 0, {}
    init_sha = file_sha256(init_file(params.init)) if params.init else None
    state = read_checkpoint(out) if resume and out.is_file() else None
    if state is not None and state.get("config", {}).get("init_sha256") != init_sha:
        # A run from other starting weights (the release it continued has since been replaced): resuming
        # it would continue, or for a finished run merely repeat, the old release's cycle.
        log.warning("%s: not resumed: it started from other weights than `train.init` %s now holds (sha256 %s); "
                    "a new run starts from them", out, params.init or '""', init_sha)
        state = None
    if state is not None:
        if state["model_args"] != model.model_args():
            raise ValueError(f"{out}: cannot resume: its model arguments {state['model_args']} differ from "
                             f"params `model:` {model.model_args()} (train afresh without --resume)")
        model.load_state_dict(state.get("train_model", state["model"]))
        optimizer.load_state_dict(state["optimizer"])
        scheduler.load_state_dict(state["scheduler"])
        step, start_epoch, figures = state["step"], state["epoch"] + 1, state.get("metrics", {})
        torch.set_rng_state(state["rng"]["torch"])
        log.info("resumed %s at epoch %d, step %d", out, start_epoch, step)
    else:
        if resume and not out.is_file():
            log.warning("%s does not exist yet: --resume starts a fresh run", out)
        if params.init:
            init_from(model, params.init)
    average = _averaged(model, params.ema, state)
    n_params = count_parameters(model)
    log.info("model: %d parameters; %d training items, %d validation items; %d steps on %s",
             n_params, len(train_ds), len(val_items), total, device)
    net = model if world.size == 1 else DistributedDataParallel(
        model, device_ids=[device.index] if device.type == "cuda" else None)
    live = _open_live(live_dir, resume and start_epoch > 0) if world.main else None
    if live is not None and start_epoch > 0:
        live.step = start_epoch  # DVCLive's own resume restarts at 0 after a single logged step
    if live is not None and start_epoch == 0:
        live.log_params({"model": model.model_args(), "train": asdict(params), "parameters": n_params})
    generator = torch.Generator().manual_seed(params.seed)
    train_mode(model, params.freeze_norm)
    for epoch in range(start_epoch, params.epochs):
        if params.max_steps and step >= params.max_steps:
            break
        train_ds.set_epoch(epoch)
        generator.manual_seed(params.seed * 100_003 + epoch)
        if world.size > 1:  # each rank a disjoint share of a permutation seeded by (seed, epoch)
            sampler = DistributedSampler(train_ds, world.size, world.rank, shuffle=True, seed=params.seed,
                                         drop_last=drop_last)
            sampler.set_epoch(epoch)
        else:
            sampler = RandomSampler(train_ds, generator=generator)
        batch_sampler = OrientedBatches(sampler, params.batch_size, drop_last, params.augment.portrait,
                                        params.seed * 1_009 + world.rank)
        batch_sampler.set_epoch(epoch)
        loader = DataLoader(train_ds, batch_sampler=batch_sampler, num_workers=params.num_workers)
        sums: dict[str, float] = {}
        batches = 0
        for batch in loader:
            x = _inputs(batch, model_config.in_channels, device)
            true, weight = batch["alpha"].to(device), batch["weight"].to(device)
            with torch.autocast(device.type, dtype=amp_dtype, enabled=use_amp):
                logits, coarse = net(x, logits=True)
                terms = criterion(logits, true, weight, coarse, batch["teacher"].to(device),
                                  batch["teacher_weight"].to(device))
                loss = terms["total"]
                if params.loss.consistency:
                    x2 = torch.cat([perturb(x[:, :3].cpu(), generator).to(device), x[:, 3:]], dim=1)
                    logits2, _ = net(x2, logits=True)
                    terms["consistency"] = consistency_loss(torch.sigmoid(logits.float()),
                                                            torch.sigmoid(logits2.float()))
                    loss = loss + params.loss.consistency * terms["consistency"]
                    terms["total"] = loss
            optimizer.zero_grad(set_to_none=True)
            scaler.scale(loss).backward()
            if params.grad_clip:
                scaler.unscale_(optimizer)
                torch.nn.utils.clip_grad_norm_(model.parameters(), params.grad_clip)
            scaler.step(optimizer)
            scaler.update()
            scheduler.step()
            if average is not None:
                average.update_parameters(model)
            step += 1
            batches += 1
            for k, v in terms.items():
                sums[k] = sums.get(k, 0.0) + float(v.detach())
            if params.max_steps and step >= params.max_steps:
                break
        figures = {f"train/{k}": v / max(1, batches) for k, v in sums.items()}
        figures["lr"] = optimizer.param_groups[0]["lr"]
        if val_loader is not None:
            figures.update({f"val/{k}": v for k, v in validate(released(model, average), val_loader, criterion,
                                                                                   device, params.freeze_norm).items()})
        log.info("epoch %d step %d: %s", epoch, step, ", ".join(f"{k} {v:.4g}" for k, v in figures.items()))
        if not world.main:
            continue
        save_checkpoint(out, {
            "model_args": model.model_args(), "model": released(model, average).state_dict(),
            **({"train_model": model.state_dict()} if average is not None else {}),
            "config": {"train": asdict(params), "init_sha256": init_sha, "stores": [str(s) for s in stores],
                       "composites": [str(c) for c in composites], "teacher": str(teacher) if teacher else None},
            "optimizer": optimizer.state_dict(), "scheduler": scheduler.state_dict(), "step": step,
            "epoch": epoch, "rng": {"torch": torch.get_rng_state()}, "metrics": figures})
        if live is not None:
            for k, v in figures.items():
                live.log_metric(k, v)
            live.next_step()
    if live is not None:
        if start_epoch > 0 and step == state["step"]:  # a finished run resumed (DVC reruns the stage): its
            for k, v in figures.items():  # figures again, or the stage's metrics would hold only the step
                live.log_metric(k, v, plot=False)
        live.end()
    distributed.barrier(world)  # the others return once rank 0's last checkpoint is written
    if not world.main:
        return {}  # rank 0 reports
    if not out.is_file():
        raise RuntimeError(f"{out}: no checkpoint was written (epochs={params.epochs}, max_steps={params.max_steps})")
    return {"parameters": n_params, "steps": step, "train_items": len(train_ds), "val_items": len(val_items),
            "seconds": round(time.perf_counter() - t_start, 1), "device": device.type, "processes": world.size,
            **{k.replace("/", "_"): round(v, 6) for k, v in figures.items()}}


def _add_args(parser) -> None:
    parser.add_argument("--store", type=Path, action="append", default=[], help="sample store (repeatable)")
    parser.add_argument("--composites", type=Path, action="append", default=[],
                        help="composites folder from `python -m datasets synthesize` (repeatable)")
    parser.add_argument("--teacher", type=Path, help="folder of <id>.png soft alphas for distillation "
                        "(e.g. LABELS/ensemble); used when train.loss.distill > 0")
    parser.add_argument("--out", type=Path, required=True, help="checkpoint to write (e.g. models/matting.pt)")
    parser.add_argument("--live-dir", type=Path, help="DVCLive folder for metrics and plots")
    parser.add_argument("--resume", action="store_true", help="continue from --out when it exists")


def _stage(params: TrainParams, args) -> dict:
    model_config = load_section("model", ModelConfig, args.params)
    return run(params, model_config, args.out, args.store, args.composites, args.live_dir, args.resume,
               args.teacher)  # empty on torchrun ranks other than 0: the kernel writes no figures for them


def main(argv: list[str] | None = None) -> int:
    return stage_main("python -m training train", __doc__, "train", TrainParams, _add_args, _stage, argv,
                      metrics_help="write the final figures here (JSON)")
