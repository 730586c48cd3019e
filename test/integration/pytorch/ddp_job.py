"""A small data-parallel job (CPU, gloo) for the verify test (torchVerify.test.ts).

An MLP wide enough that the gradient all-reduce weighs on the step, trained under a
launcher (torchrun / python -m torch.distributed.run), its loop profiled with commlens_torch.
The script builds a plain DistributedDataParallel: under COMMLENS_APPLY, commlens_torch
changes it (bucket_cap_mb, a comm hook) without the script knowing.

    python3 -m torch.distributed.run --nproc_per_node 2 --standalone ddp_job.py --steps 10
"""
import argparse

import torch
import torch.distributed as dist
import torch.nn as nn
from torch.nn.parallel import DistributedDataParallel

import commlens_torch


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--steps", type=int, default=10)
    ap.add_argument("--width", type=int, default=1024)
    ap.add_argument("--layers", type=int, default=3)
    ap.add_argument("--batch", type=int, default=16)
    args = ap.parse_args()

    dist.init_process_group("gloo")
    rank = dist.get_rank()
    torch.manual_seed(0)
    torch.set_num_threads(1)
    layers = []
    for _ in range(args.layers):
        layers += [nn.Linear(args.width, args.width), nn.ReLU()]
    model = nn.Sequential(*layers, nn.Linear(args.width, 10))
    ddp = DistributedDataParallel(model)
    opt = torch.optim.SGD(ddp.parameters(), lr=1e-3)
    loss_fn = nn.CrossEntropyLoss()
    g = torch.Generator().manual_seed(rank)
    active = max(1, args.steps - 2)
    with commlens_torch.profile(wait=1, warmup=1, active=active) as prof:
        for step in range(args.steps):
            x = torch.randn(args.batch, args.width, generator=g)
            y = torch.randint(0, 10, (args.batch,), generator=g)
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
