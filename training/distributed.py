"""Several processes, GPUs or machines under ``torchrun`` (DistributedDataParallel).

``torchrun --nproc_per_node N -m training train ...`` sets RANK / WORLD_SIZE / LOCAL_RANK /
MASTER_ADDR / MASTER_PORT; ``setup()`` reads them and joins the process group (NCCL on GPUs, gloo on
the CPU). Without them (a plain ``python -m training train``) it is a one-process run and nothing
changes. Rank 0 alone validates, writes checkpoints and logs metrics; the others log warnings only.
"""
from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from datetime import timedelta

import torch
import torch.distributed as dist

log = logging.getLogger(__name__)
RENDEZVOUS_VARS = ("MASTER_ADDR", "MASTER_PORT", "RANK", "WORLD_SIZE")


@dataclass(frozen=True)
class World:
    rank: int = 0
    size: int = 1
    local_rank: int = 0

    @property
    def main(self) -> bool:
        """Rank 0: the process that validates, checkpoints and logs."""
        return self.rank == 0


def setup(device_kind: str, timeout_s: float = 120.0) -> World:
    """Join the process group when started by torchrun (WORLD_SIZE > 1); else a one-process world."""
    size = int(os.environ.get("WORLD_SIZE", "1"))
    if size <= 1:
        return World()
    missing = [v for v in RENDEZVOUS_VARS if not os.environ.get(v)]
    if missing:
        raise RuntimeError(f"WORLD_SIZE={size} but the rendezvous variables {missing} are not set: start "
                           "several processes with `torchrun --nproc_per_node N -m training train ...` "
                           "(and --rdzv-endpoint HOST:PORT across machines)")
    world = World(int(os.environ["RANK"]), size, int(os.environ.get("LOCAL_RANK", "0")))
    backend = "nccl" if device_kind == "cuda" else "gloo"
    if device_kind == "cuda":
        torch.cuda.set_device(world.local_rank)
    try:
        dist.init_process_group(backend, rank=world.rank, world_size=size, timeout=timedelta(seconds=timeout_s))
    except Exception as e:  # noqa: BLE001  (any rendezvous failure becomes one clear message)
        raise RuntimeError(f"rank {world.rank}: could not join the process group at "
                           f"{os.environ['MASTER_ADDR']}:{os.environ['MASTER_PORT']} ({backend}): {e}") from e
    if not world.main:
        logging.getLogger().setLevel(logging.WARNING)
    log.info("distributed: %d processes (%s)", size, backend)
    return world


def barrier(world: World) -> None:
    if world.size > 1:
        dist.barrier()


def teardown(world: World) -> None:
    if world.size > 1 and dist.is_initialized():
        dist.destroy_process_group()
