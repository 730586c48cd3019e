"""commlens_torch: profile a PyTorch training loop for CommLens, and apply a suggested change.

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

Applying a suggestion (COMMLENS_APPLY)
--------------------------------------
"Apply & re-run" on an external run (and `commlens verify` on one) re-launches the same
command with COMMLENS_APPLY set to a JSON object naming the change; the script does not
change. Recognised keys:

    {"bucket_cap_mb": 100}                          DDP's bucket cap, in MiB
    {"comm_hook": "fp16"}                           fp16_compress_hook
    {"comm_hook": "bf16"}                           bf16_compress_hook
    {"comm_hook": "powersgd", "powersgd_rank": 4,   powerSGD_hook (PowerSGDState with that
     "powersgd_start_iter": 2}                      rank, default 1, compressing from that
                                                    iteration, default 2: PyTorch's default
                                                    of 1000 would leave a short job dense)

bucket_cap_mb and comm_hook can be combined. How: when COMMLENS_APPLY (or COMMLENS_TRACE_DIR)
is set, importing commlens_torch wraps torch.nn.parallel.DistributedDataParallel.__init__,
so every DDP built AFTER the import takes the change: bucket_cap_mb replaces the one the
script passes (or the default), and the hook is registered right after construction. So
import commlens_torch before wrapping the model, or build the model with the explicit form

    ddp = commlens_torch.ddp(model, device_ids=[local_rank])    # = DistributedDataParallel(...)

Each rank prints what it applied to stderr ("[commlens_torch] rank 0: applied ...") and
records it in its trace, in a top-level "commlens_torch" object beside distributedInfo:
{"version", "torch", "apply": the change, "ddp": [one entry per DDP: bucket_cap_mb,
comm_hook, bucket_sizes when PyTorch reports them]}. CommLens' importer reads it, so the
analysis knows the re-run's settings (and the baseline's: the entry is written without
COMMLENS_APPLY too). A change that cannot be applied stops the job with a message naming
what was wrong and what would work: an unknown key or hook, a hook the installed PyTorch
does not have or its backend cannot run (bf16 and PowerSGD on gloo in PyTorch 1.x, for instance), a
script that registers its own comm hook too, or no DDP built after the import.
"""
from __future__ import annotations

import contextlib
import os
import sys

__all__ = [
    "profile",
    "steps",
    "ddp",
    "install",
    "trace_dir",
    "rank",
    "world_size",
    "trace_path",
    "Profiler",
    "ApplyError",
    "parse_apply",
    "applied_change",
    "job_metadata",
]
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


# --- Applying a change from COMMLENS_APPLY --------------------------------------------------

ENV_APPLY = "COMMLENS_APPLY"
#: The comm hooks COMMLENS_APPLY can name, with the spellings CommLens' suggestions use.
HOOKS = {"fp16": "fp16_compress_hook", "bf16": "bf16_compress_hook", "powersgd": "powerSGD_hook"}
_HOOK_ALIASES = {"fp16_compress_hook": "fp16", "bf16_compress_hook": "bf16", "powersgd_hook": "powersgd"}
_APPLY_KEYS = ("bucket_cap_mb", "comm_hook", "powersgd_rank", "powersgd_start_iter")
_MiB = 1024 * 1024


class ApplyError(ValueError):
    """COMMLENS_APPLY names a change commlens_torch cannot apply (the message says why and what would work)."""


def parse_apply(text):
    """The change COMMLENS_APPLY names, checked and normalised; raises ApplyError when it is not valid."""
    import json

    what = f"{ENV_APPLY}={text!r}"
    try:
        change = json.loads(text)
    except ValueError as e:
        raise ApplyError(f"{what} is not JSON ({e}); expected an object such as {{\"bucket_cap_mb\": 100}} or {{\"comm_hook\": \"fp16\"}}") from None
    if not isinstance(change, dict) or not change:
        raise ApplyError(f"{what}: expected a non-empty JSON object with any of {', '.join(_APPLY_KEYS)}")
    unknown = [k for k in change if k not in _APPLY_KEYS]
    if unknown:
        raise ApplyError(f"{what}: unknown key(s) {', '.join(unknown)}; commlens_torch applies {', '.join(_APPLY_KEYS)}")
    out = {}
    if "bucket_cap_mb" in change:
        v = change["bucket_cap_mb"]
        if isinstance(v, bool) or not isinstance(v, (int, float)) or not v > 0 or v != v or v == float("inf"):
            raise ApplyError(f"{what}: bucket_cap_mb must be a positive number of MiB (e.g. 25, PyTorch's default), got {v!r}")
        out["bucket_cap_mb"] = v
    if "comm_hook" in change:
        v = change["comm_hook"]
        name = _HOOK_ALIASES.get(str(v).lower(), str(v).lower()) if isinstance(v, str) else None
        if name not in HOOKS:
            raise ApplyError(f"{what}: comm_hook {v!r} is not one commlens_torch applies; use one of {', '.join(HOOKS)}")
        out["comm_hook"] = name
    for key, low, default in (("powersgd_rank", 1, 1), ("powersgd_start_iter", 2, 2)):
        if key not in change:
            if out.get("comm_hook") == "powersgd":
                out[key] = default
            continue
        if out.get("comm_hook") != "powersgd":
            raise ApplyError(f"{what}: {key} goes with \"comm_hook\": \"powersgd\"")
        v = change[key]
        if isinstance(v, bool) or not isinstance(v, int) or v < low:
            raise ApplyError(f"{what}: {key} must be an integer of at least {low}, got {v!r}")
        out[key] = v
    return out


_apply_cache = []


def applied_change():
    """The change COMMLENS_APPLY names (parse_apply), or None when it is unset or empty."""
    if not _apply_cache:
        text = os.environ.get(ENV_APPLY, "").strip()
        _apply_cache.append(parse_apply(text) if text else None)
    return _apply_cache[0]


# Every DistributedDataParallel built while the wrapper is installed: (weak reference, record).
_ddps = []
_installed = []


def _torch_version():
    try:
        import torch

        return str(torch.__version__)
    except ImportError:
        return "not installed"


def _say(message):
    print(f"[commlens_torch] rank {rank()}: {message}", file=sys.stderr, flush=True)


def _check_hook_runs(name, process_group):
    """Raises ApplyError when the installed PyTorch or the group's backend cannot run hook `name`."""
    import torch
    import torch.distributed as dist

    if name == "powersgd":
        try:
            from torch.distributed.algorithms.ddp_comm_hooks import powerSGD_hook  # noqa: F401
        except ImportError as e:
            raise ApplyError(f"PyTorch {torch.__version__} has no PowerSGD comm hook ({e}); it needs PyTorch 1.8 or later; fp16 works from 1.8 too") from None
        backend = dist.get_backend(process_group) if process_group is not None else dist.get_backend()
        major = int(str(torch.__version__).split(".")[0] or 0)
        if backend == "gloo" and major < 2:
            # Seen with Debian's 1.13 on CPU: from the first compressed step a gloo size check
            # fails in the hook's all-reduces ("op.preamble.length <= op.nbytes") and a rank aborts
            # (or the job hangs), so it is refused before training starts.
            raise ApplyError(
                f"the PowerSGD comm hook breaks the gloo backend of PyTorch {torch.__version__} (a rank aborts in gloo at the first compressed step); fp16 would work here, or powersgd with NCCL on GPUs"
            )
        return
    try:
        from torch.distributed.algorithms.ddp_comm_hooks import default_hooks
    except ImportError as e:
        raise ApplyError(f"PyTorch {torch.__version__} has no DDP comm hooks ({e}); they need PyTorch 1.8 or later") from None
    if not hasattr(default_hooks, HOOKS[name]):
        raise ApplyError(f"PyTorch {torch.__version__} has no {HOOKS[name]}; fp16 (fp16_compress_hook) or powersgd would work here")
    dtype = torch.float16 if name == "fp16" else torch.bfloat16
    # One collective of the hook's dtype, on every rank at the same point (DDP's construction
    # is collective too): a backend that cannot reduce it fails here, with a message, instead
    # of in the middle of backward.
    try:
        dist.all_reduce(torch.zeros(1, dtype=dtype), group=process_group)
    except RuntimeError as e:
        backend = dist.get_backend(process_group) if process_group is not None else dist.get_backend()
        other = "fp16 or powersgd" if name == "bf16" else "powersgd"
        raise ApplyError(
            f"the {name} comm hook cannot run with the {backend} backend of PyTorch {torch.__version__}: an all-reduce of {dtype} fails ({str(e).splitlines()[0]}); {other} would work here, or {name} with NCCL on GPUs"
        ) from None


def _register_hook(ddp, change):
    """Registers the hook `change` names on `ddp`; returns its name as PyTorch spells it."""
    name = change["comm_hook"]
    pg = getattr(ddp, "process_group", None)
    _check_hook_runs(name, pg)
    if name == "powersgd":
        from torch.distributed.algorithms.ddp_comm_hooks import powerSGD_hook as psgd

        state = psgd.PowerSGDState(
            process_group=pg,
            matrix_approximation_rank=change["powersgd_rank"],
            start_powerSGD_iter=change["powersgd_start_iter"],
        )
        _original_register(ddp, state, psgd.powerSGD_hook)
    else:
        from torch.distributed.algorithms.ddp_comm_hooks import default_hooks

        _original_register(ddp, pg, getattr(default_hooks, HOOKS[name]))
    return HOOKS[name]


def _original_register(ddp, state, hook):
    from torch.nn.parallel import DistributedDataParallel

    getattr(DistributedDataParallel.register_comm_hook, "__wrapped__", DistributedDataParallel.register_comm_hook)(ddp, state, hook)


def _record_of(ddp):
    for ref, rec in _ddps:
        if ref() is ddp:
            return rec
    return None


def install():
    """Wraps DistributedDataParallel so that DDPs built from now on take COMMLENS_APPLY's change and are recorded.

    Called on import when COMMLENS_APPLY or COMMLENS_TRACE_DIR is set; does nothing the second time.
    Raises ApplyError when COMMLENS_APPLY is not valid, ImportError when PyTorch is missing.
    """
    change = applied_change()
    if _installed:
        return
    import functools
    import inspect
    import weakref

    from torch.nn.parallel import DistributedDataParallel as DDP

    init = DDP.__init__
    register = DDP.register_comm_hook
    signature = inspect.signature(init)

    @functools.wraps(init)
    def __init__(self, *args, **kwargs):
        before = None
        if change and "bucket_cap_mb" in change:
            bound = signature.bind(self, *args, **kwargs)
            before = bound.arguments.get("bucket_cap_mb", signature.parameters["bucket_cap_mb"].default)
            bound.arguments["bucket_cap_mb"] = change["bucket_cap_mb"]
            args, kwargs = bound.args[1:], bound.kwargs
        init(self, *args, **kwargs)
        cap = getattr(self, "bucket_bytes_cap", None)
        rec = {"bucket_cap_mb": round(cap / _MiB, 6) if isinstance(cap, (int, float)) else None, "comm_hook": None}
        _ddps.append((weakref.ref(self), rec))
        if not change:
            return
        done = []
        if "bucket_cap_mb" in change:
            done.append(f"bucket_cap_mb {before if before is not None else 'default'} -> {change['bucket_cap_mb']}")
        if "comm_hook" in change:
            rec["comm_hook"] = _register_hook(self, change)
            rec["applied_hook"] = True
            extra = f" (rank {change['powersgd_rank']}, from iteration {change['powersgd_start_iter']})" if change["comm_hook"] == "powersgd" else ""
            done.append(f"comm hook {rec['comm_hook']}{extra}")
        rec["applied"] = dict(change)
        _say(f"applied {ENV_APPLY} to DistributedDataParallel #{len(_ddps)}: {'; '.join(done)}")

    @functools.wraps(register)
    def register_comm_hook(self, state, hook):
        rec = _record_of(self)
        if rec is not None and rec.get("applied_hook"):
            raise ApplyError(
                f"{ENV_APPLY} registered the {rec['comm_hook']} comm hook on this DistributedDataParallel, and the script registers one of its own ({getattr(hook, '__qualname__', hook)}); DDP takes one hook: verify without comm_hook, or without the script's register_comm_hook call"
            )
        out = register(self, state, hook)
        if rec is not None:
            rec["comm_hook"] = getattr(hook, "__qualname__", None) or str(hook)
        return out

    DDP.__init__ = __init__
    DDP.register_comm_hook = register_comm_hook
    _installed.append(True)


def ddp(module, *args, **kwargs):
    """DistributedDataParallel(module, *args, **kwargs), with COMMLENS_APPLY's change (if any) applied and recorded.

    The explicit form of what importing commlens_torch does: it works wherever the import sits.
    """
    if applied_change() or trace_dir() is not None:
        install()
    from torch.nn.parallel import DistributedDataParallel

    return DistributedDataParallel(module, *args, **kwargs)


def _check_applied():
    """Raises ApplyError when COMMLENS_APPLY is set but no DDP took it (the script built its DDP before the import)."""
    change = applied_change()
    if change and not any("applied" in rec for _, rec in _ddps):
        raise ApplyError(
            f"{ENV_APPLY} asks for {change}, but no DistributedDataParallel was built after `import commlens_torch`, so nothing was changed: import commlens_torch before wrapping the model, or build it with commlens_torch.ddp(model, ...)"
        )


def job_metadata():
    """What the trace records about the job (the top-level "commlens_torch" object)."""
    meta = {"version": __version__, "torch": _torch_version()}
    change = applied_change()
    if change:
        meta["apply"] = change
    entries = []
    for ref, rec in _ddps:
        entry = {k: v for k, v in rec.items() if k != "applied_hook"}
        d = ref()
        if d is not None:
            try:
                # PyTorch's own record of the DDP (a prototype API): the buckets it really built.
                data = d._get_ddp_logging_data()
                sizes = data.get("bucket_sizes")
                if isinstance(sizes, str) and sizes.strip():
                    entry["bucket_sizes"] = [int(x) for x in sizes.replace(",", " ").split()]
                hook = data.get("comm_hook")
                if isinstance(hook, str) and hook and entry.get("comm_hook") is None:
                    entry["comm_hook"] = hook
            except Exception:  # noqa: BLE001 - optional detail; its absence is fine
                pass
        entries.append(entry)
    meta["ddp"] = entries
    return meta


def _normalise(path):
    """Makes the exported trace say which rank wrote it, and what commlens_torch knows of the job.

    Kineto's export already carries `distributedInfo` when torch.distributed is set up.
    PyTorch builds without Kineto export the legacy format (a bare JSON array of events,
    no rank); those are wrapped as {"traceEvents": [...], "distributedInfo": {...}} so
    the importer can tell the ranks apart. Either way a top-level "commlens_torch" object
    (job_metadata: the change applied from COMMLENS_APPLY, each DDP's bucket cap and comm
    hook) is added. Returns True when the file was rewritten.
    """
    import json

    with open(path, "r", encoding="utf-8") as f:
        data = json.load(f)
    if isinstance(data, list):
        data = {"traceEvents": data, "distributedInfo": _distributed_info()}
    elif not isinstance(data, dict):
        return False
    elif "distributedInfo" not in data:
        data["distributedInfo"] = _distributed_info()
    data["commlens_torch"] = job_metadata()
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
        # A change asked for but taken by no DDP would make the re-run measure the old job.
        _check_applied()
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


# The change is applied (and DDPs recorded) for every DDP built after this import; an invalid
# COMMLENS_APPLY stops the job here, naming what was wrong. Without PyTorch (outside a job)
# there is nothing to wrap: profile() says so when it is asked to record.
if os.environ.get(ENV_APPLY, "").strip() or trace_dir() is not None:
    try:
        install()
    except ImportError:
        if applied_change():
            raise
