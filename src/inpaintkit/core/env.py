"""Where things are and what runs them: local copies of weights and data, the device, CPU threads.

**Local copies.** Weights that a model names by hub id (TAESD, ``madebyollin/taesd``) and the data sets
of the benchmarks (CelebA, the NVIDIA masks, CIFAR-10) are looked up by name, first match wins, in

1. ``$INPAINTKIT_WEIGHTS`` / ``$INPAINTKIT_DATA`` (several folders separated by ``:``),
2. the user cache, ``~/.cache/inpaintkit/weights`` / ``.../data`` (``$XDG_CACHE_HOME`` is honoured),
3. ``shared/weights`` / ``shared/data`` in the working folder or beside it (``../shared``), and beside
   a source checkout of inpaintkit,

and only then fetched from the model hub (weights) or reported missing (data), with a message that
lists these places.

**Threads.** On a CPU, torch's default of one OpenMP thread per core collapses when another process
holds a core: the threads spin-wait on each other, measured 5-20x slower than one thread
(docs/speed.md). inpaintkit therefore makes OpenMP's idle threads sleep (``OMP_WAIT_POLICY=PASSIVE``,
set by ``import inpaintkit`` unless the variable is set or torch was imported first) and, with
``threads="auto"``, uses one thread per core that is idle when the run starts.

**Reproducibility.** MKL's matrix products (torch's CPU BLAS: attention, linear layers) may round
differently when the same inputs lie at differently aligned addresses, so two runs with one seed could
differ in the last bit (VIPaint on the tiny latent model did, in 1 of ~20 runs). ``import inpaintkit``
asks for MKL's strict reproducible mode (``MKL_CBWR=AUTO,STRICT``, same rules as above); measured no
slower on the built-in models.
"""
from __future__ import annotations

import os
import time
from pathlib import Path

from .errors import InpaintInputError

WEIGHTS_ENV = "INPAINTKIT_WEIGHTS"
DATA_ENV = "INPAINTKIT_DATA"
LOCAL_KINDS = {"weights": WEIGHTS_ENV, "data": DATA_ENV}
_PACKAGE = Path(__file__).resolve().parents[1]


def user_cache() -> Path:
    """``~/.cache/inpaintkit`` (or ``$XDG_CACHE_HOME/inpaintkit``)."""
    return Path(os.environ.get("XDG_CACHE_HOME") or "~/.cache").expanduser() / "inpaintkit"


def search_roots(kind: str) -> list[Path]:
    """The folders searched for local ``weights`` or ``data``, in order (see the module docstring)."""
    if kind not in LOCAL_KINDS:
        raise ValueError(f"kind must be one of {', '.join(LOCAL_KINDS)}, got {kind!r}")
    roots = [Path(p).expanduser() for p in os.environ.get(LOCAL_KINDS[kind], "").split(os.pathsep) if p]
    roots.append(user_cache() / kind)
    cwd = Path.cwd()
    shared = [cwd / "shared", cwd.parent / "shared"]
    if _PACKAGE.parent.name == "src" and (_PACKAGE.parents[1] / "pyproject.toml").is_file():  # a source checkout
        shared += [_PACKAGE.parents[1] / "shared", _PACKAGE.parents[2] / "shared"]
    roots += [s / kind for s in shared]
    unique: list[Path] = []
    for root in roots:
        if root.absolute() not in [u.absolute() for u in unique]:
            unique.append(root)
    return unique


def find_local(kind: str, name: str) -> Path | None:
    """The first ``<root>/<name>`` that exists among :func:`search_roots`, or None."""
    for root in search_roots(kind):
        if (root / name).exists():
            return root / name
    return None


def where_to_put(kind: str, name: str) -> str:
    """The places :func:`find_local` looks, for error messages: ``$INPAINTKIT_WEIGHTS/taesd, ...``."""
    env = LOCAL_KINDS[kind]
    places = [f"${env}/{name}", str(Path("~/.cache/inpaintkit") / kind / name), f"shared/{kind}/{name}",
              f"../shared/{kind}/{name}"]
    return ", ".join(places)


def require_local(kind: str, name: str, what: str) -> Path:
    """:func:`find_local`, or an error naming ``what`` is missing and where to put it."""
    found = find_local(kind, name)
    if found is None:
        raise InpaintInputError(f"{what} not found: put it in one of {where_to_put(kind, name)} "
                                f"(or point ${LOCAL_KINDS[kind]} at the folder that holds {name})")
    return found


# -- device ------------------------------------------------------------------------------------
def pick_device(device: str = "auto"):
    """``auto``: CUDA, else Apple's MPS, else the CPU; an explicit device that is not there is an error."""
    import torch

    device = str(device)
    if device == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    try:
        chosen = torch.device(device)
    except RuntimeError:
        raise InpaintInputError(f"unknown device {device!r}; use auto, cpu, cuda or cuda:N") from None
    if chosen.type == "cuda" and not torch.cuda.is_available():
        raise InpaintInputError(f"device {device!r}: no CUDA device is available")
    if chosen.type == "mps" and not (getattr(torch.backends, "mps", None) and torch.backends.mps.is_available()):
        raise InpaintInputError(f"device {device!r}: MPS is not available")
    return chosen


# -- CPU threads -------------------------------------------------------------------------------
def _cpu_times() -> tuple[int, int] | None:
    """(busy, total) jiffies summed over all CPUs, from /proc/stat; None where there is none."""
    try:
        fields = Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]
    except OSError:
        return None
    values = [int(v) for v in fields[:8]]
    idle = values[3] + values[4]  # idle + iowait
    return sum(values) - idle, sum(values)


def idle_cores(sample_seconds: float = 0.1) -> int:
    """The cores this process may use that no other process keeps busy, measured over ``sample_seconds``
    (at least 1). Where the kernel's counters cover more CPUs than this process may use (a container
    on a larger host), the counters say nothing about our cores and all of them count as idle."""
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    try:
        host_cpus = sum(1 for line in Path("/proc/stat").read_text().splitlines() if line[:3] == "cpu" and line[3:4].isdigit())
    except OSError:
        return cores
    first = _cpu_times()
    if first is None or host_cpus != cores:
        return cores
    time.sleep(sample_seconds)
    busy, total = (b - a for a, b in zip(first, _cpu_times()))
    busy_cores = round(cores * busy / total) if total > 0 else 0
    return max(1, cores - busy_cores)


def resolve_threads(threads: int | str | None) -> int | None:
    """``threads`` as a count: an int >= 1 as it is, ``"auto"`` the idle cores, None: leave torch's setting."""
    if threads is None:
        return None
    if isinstance(threads, str):
        if threads == "auto":
            return idle_cores()
        if not threads.isdigit():
            raise InpaintInputError(f"threads must be a positive integer or 'auto', got {threads!r}")
        threads = int(threads)
    if threads < 1:
        raise InpaintInputError(f"threads must be >= 1, got {threads}")
    return threads


def set_threads(threads: int | str | None) -> int:
    """Apply :func:`resolve_threads` to torch's intra-op thread pool; returns the count in use."""
    import torch

    count = resolve_threads(threads)
    if count is not None and count != torch.get_num_threads():
        torch.set_num_threads(count)
    return torch.get_num_threads()


def set_cpu_library_defaults() -> None:
    """OpenMP's idle threads sleep instead of spinning, and MKL's BLAS gives bit-identical results whatever
    the memory alignment of its inputs (effective only before torch loads; variables already set win)."""
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    os.environ.setdefault("MKL_CBWR", "AUTO,STRICT")
