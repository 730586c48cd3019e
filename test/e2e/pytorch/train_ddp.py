"""A small data-parallel training job for CommLens' worked example and tests.

Runs on CPU with the gloo backend (or on GPUs with NCCL when CUDA is there), two or more
ranks under torchrun, and profiles its loop with commlens_torch:

    COMMLENS_TRACE_DIR=/tmp/traces torchrun --nproc-per-node 2 train_ddp.py --steps 8
"""
import argparse
import os

import torch
import torch.distributed as dist
import torch.nn as nn
from torch.nn.parallel import DistributedDataParallel as DDP

import commlens_torch


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--steps", type=int, default=8)
    ap.add_argument("--width", type=int, default=512)
    ap.add_argument("--batch", type=int, default=64)
    args = ap.parse_args()

    cuda = torch.cuda.is_available()
    dist.init_process_group("nccl" if cuda else "gloo")
    rank = dist.get_rank()
    device = torch.device("cuda", int(os.environ.get("LOCAL_RANK", 0))) if cuda else torch.device("cpu")
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(args.width, args.width), nn.ReLU(), nn.Linear(args.width, args.width), nn.ReLU(), nn.Linear(args.width, 10)).to(device)
    ddp = DDP(model, device_ids=[device.index] if cuda else None)
    opt = torch.optim.Adam(ddp.parameters(), lr=1e-3)
    loss_fn = nn.CrossEntropyLoss()
    g = torch.Generator().manual_seed(rank)

    with commlens_torch.profile(wait=1, warmup=1, active=min(3, max(1, args.steps - 2))) as prof:
        for step in range(args.steps):
            x = torch.randn(args.batch, args.width, generator=g).to(device)
            y = torch.randint(0, 10, (args.batch,), generator=g).to(device)
            opt.zero_grad()
            loss = loss_fn(ddp(x), y)
            loss.backward()
            opt.step()
            prof.step()
            if rank == 0:
                print(f"step {step + 1}/{args.steps} loss {loss.item():.4f}", flush=True)
    dist.destroy_process_group()


if __name__ == "__main__":
    main()
