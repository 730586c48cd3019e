"""commlens_torch: profile a PyTorch training loop for CommLens.

Wrap the training loop; every rank writes one PyTorch profiler (Kineto) trace into the
folder named by the COMMLENS_TRACE_DIR environment variable, which CommLens' "Profile
External Command..." sets (and puts this package on PYTHONPATH). When the command ends,
CommLens imports every rank's trace and opens the analysis.

    import commlens_torch

    with commlens_torch.profile() as prof:          # defaults: wait 1, warmup 1, active 3
        for step, batch in enumerate(loader):
            train_step(batch)
            prof.step()                              # once per training step

or, as an iterator that calls step() for you:

    for batch in commlens_torch.steps(loader):
        train_step(batch)

Without COMMLENS_TRACE_DIR the wrappers do nothing (the script runs as usual), so the
same script works inside and outside CommLens.
"""

from __future__ import annotations

import contextlib
import os
import sys

__all__ = ["profile", "steps", "trace_dir", "rank", "world_size", "trace_path", "Profiler"]
__version__ = "0.1.0"

ENV_TRACE_DIR = "COMMLENS_TRACE_DIR"


def trace_dir():
    """The folder traces go to (COMMLENS_TRACE_DIR), or None when CommLens did not start us."""
    d = os.environ.get(ENV_TRACE_DIR, "").strip()
    return d or None


def _env_int(*names, default=0):
    for n in names:
        v = os.environ.get(n)
        if v is not None and v.strip().lstrip("-").isdigit():
            return int(v)
    return default


def rank():
    """This process's global rank: torch.distributed's when initialised, else the launcher's env."""
    try:
        import torch.distributed as dist  # noqa: WPS433 (optional dependency)

        if dist.is_available() and dist.is_initialized():
            return dist.get_rank()
    except ImportError:
        pass
    # torchrun sets RANK; DeepSpeed and Open MPI / Slurm launchers set their own.
    return _env_int("RANK", "OMPI_COMM_WORLD_RANK", "PMI_RANK", "SLURM_PROCID", default=0)


def world_size():
    """The number of ranks: torch.distributed's when initialised, else the launcher's env."""
    try:
        import torch.distributed as dist

        if dist.is_available() and dist.is_initialized():
            return dist.get_world_size()
    except ImportError:
        pass
    return _env_int("WORLD_SIZE", "OMPI_COMM_WORLD_SIZE", "PMI_SIZE", "SLURM_NTASKS", default=1)


def trace_path(directory=None, rank_=None, gzip=True):
    """Where rank `rank_` writes its trace: <dir>/rank-<rank>.pt.trace.json[.gz]."""
    d = directory or trace_dir()
    if d is None:
        raise RuntimeError(f"{ENV_TRACE_DIR} is not set: start the job from CommLens (Profile External Command...) or set it yourself")
    r = rank() if rank_ is None else rank_
    return os.path.join(d, f"rank-{r}.pt.trace.json" + (".gz" if gzip else ""))


def _distributed_info():
    """What Kineto records as `distributedInfo` (backend, rank, world_size), when known."""
    info = {"rank": rank(), "world_size": world_size()}
    try:
        import torch.distributed as dist

        if dist.is_available() and dist.is_initialized():
            info["backend"] = str(dist.get_backend())
    except ImportError:
        pass
    return info


def _normalise(path):
    """Makes the exported trace say which rank wrote it.

    Kineto's export already carries `distributedInfo` when torch.distributed is set up.
    PyTorch builds without Kineto export the legacy format (a bare JSON array of events,
    no rank); those are wrapped as {"traceEvents": [...], "distributedInfo": {...}} so
    the importer can tell the ranks apart. Returns True when the file was rewritten.
    """
    import json

    with open(path, "r", encoding="utf-8") as f:
        data = json.load(f)
    if isinstance(data, list):
        data = {"traceEvents": data, "distributedInfo": _distributed_info()}
    elif isinstance(data, dict) and "distributedInfo" not in data:
        data["distributedInfo"] = _distributed_info()
    else:
        return False
    with open(path, "w", encoding="utf-8") as f:
        json.dump(data, f)
    return True


def _export(prof, path):
    """Writes the trace of `prof` to `path` (gzip-compressed when it ends in .gz)."""
    import gzip
    import shutil
    import tempfile

    directory = os.path.dirname(path) or "."
    os.makedirs(directory, exist_ok=True)
    fd, tmp = tempfile.mkstemp(suffix=".json", dir=directory)
    os.close(fd)
    try:
        prof.export_chrome_trace(tmp)
        _normalise(tmp)
        if path.endswith(".gz"):
            with open(tmp, "rb") as src, gzip.open(path, "wb") as dst:
                shutil.copyfileobj(src, dst)
        else:
            os.replace(tmp, path)
    finally:
        with contextlib.suppress(OSError):
            os.remove(tmp)
    print(f"[commlens_torch] rank {rank()}: wrote {path}", file=sys.stderr, flush=True)


class Profiler:
    """A torch.profiler.profile with CommLens' schedule and per-rank output.

    The schedule skips `wait` steps, warms up for `warmup`, then records `active` steps
    (one cycle): the first steps of a job are dominated by start-up (NCCL communicator
    set-up, allocator growth, autotuning) and would mislead the analysis.
    """

    def __init__(self, wait=1, warmup=1, active=3, record_shapes=False, with_stack=False, directory=None, gzip=True):
        self.directory = directory or trace_dir()
        self.enabled = self.directory is not None
        self.gzip = gzip
        self.written = None
        self._prof = None
        if not self.enabled:
            return
        try:
            import torch
            from torch.profiler import ProfilerActivity, schedule
            from torch.profiler import profile as torch_profile
        except ImportError as e:  # pragma: no cover - depends on the user's environment
            raise ImportError(f"commlens_torch needs PyTorch with torch.profiler ({e}); install torch in the environment that runs the job") from e
        activities = [ProfilerActivity.CPU]
        if torch.cuda.is_available():
            activities.append(ProfilerActivity.CUDA)
        self._prof = torch_profile(
            activities=activities,
            schedule=schedule(wait=wait, warmup=warmup, active=active, repeat=1),
            on_trace_ready=self._on_ready,
            record_shapes=record_shapes,
            with_stack=with_stack,
        )

    def _on_ready(self, prof):
        self.written = trace_path(self.directory, gzip=self.gzip)
        _export(prof, self.written)

    def __enter__(self):
        if self._prof is not None:
            self._prof.__enter__()
        return self

    def __exit__(self, *exc):
        if self._prof is not None:
            return self._prof.__exit__(*exc)
        return False

    def step(self):
        """Marks the end of one training step (a ProfilerStep#N span in the trace)."""
        if self._prof is not None:
            self._prof.step()


def profile(**kwargs):
    """A context manager profiling the loop inside it; call .step() once per step."""
    return Profiler(**kwargs)


def steps(iterable, **kwargs):
    """Yields from `iterable`, profiling each iteration as one training step."""
    with Profiler(**kwargs) as prof:
        for item in iterable:
            yield item
            prof.step()
