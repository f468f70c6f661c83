"""The GPU benchmark kit: on a bare GPU machine, in one run of bounded time, install the carried
wheels and measure nnvis there (see README.md beside this file).

    python3 benchmarks/gpu/kit.py --out DIR               # the GPU run (bash benchmarks/gpu/run.sh)
    python3 benchmarks/gpu/kit.py --out DIR --cpu-smoke   # the same at small sizes on the CPU

Writes DIR/results.json and DIR/results.md after every stage, so a run that is stopped keeps
what it measured. Each stage runs in its own process with a time limit (stages.py)."""

from __future__ import annotations

import argparse
import json
import math
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import zipfile
from importlib.util import find_spec
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
sys.path[:0] = [str(ROOT), str(HERE.parent)]

from report import write_markdown  # noqa: E402

WHEELS = HERE / "wheels"
SITE = HERE / "site"
CARRIED = HERE / "carried.txt"
# The order is the priority: each stage gets at most its seconds (None: all that is left), and
# never more than what is left of the whole run's budget.
STAGE_SECONDS = {"activations": 50, "gpu_projection": 90, "capture": 45, "pytest_gpu": 100, "cpu_reference": None}
GPU_SIZES = {"large": 70_000, "small": 10_000, "warmup": 2_000, "repeats": 2, "train_digits": 60_000,
             "torchdr_max_iter": None, "capture": {"images": 8192, "size": 224, "batch_size": 256,
                                                   "precision": "bfloat16", "repeats": 3}}
SMOKE_SIZES = {"large": 1_000, "small": 500, "warmup": 0, "repeats": 1, "train_digits": 6_000,
               "torchdr_max_iter": 300, "capture": {"images": 32, "size": 32, "batch_size": 16,
                                                    "precision": "bfloat16", "repeats": 2}}


def carried() -> list[tuple[str, str]]:
    """(pinned requirement, import name) for every line of carried.txt."""
    rows = [line.split() for line in CARRIED.read_text().splitlines() if line.strip() and not line.startswith("#")]
    return [(row[0], row[1]) for row in rows]


def wheel_for(requirement: str, wheels: list[Path]) -> Path | None:
    """The wheel file of a pinned `name==version` (names compared as pip normalises them)."""
    name, version = requirement.split("==")
    wanted = re.sub(r"[-_.]+", "_", name).lower() + "-" + version + "-"
    return next((w for w in wheels if re.sub(r"[-_.]+", "_", w.name.split("-")[0]).lower() + "-"
                 + w.name.split("-")[1] + "-" == wanted), None)


def install_command(wheels: list[Path], site: Path, *, python_version: str | None = None) -> list[str]:
    """pip installing `wheels` into `site` offline without dependencies (torch is never touched);
    with `python_version`, for that Python on manylinux x86-64 (to check the wheels elsewhere)."""
    command = [sys.executable, "-m", "pip", "install", "--no-index", "--no-deps", "--only-binary=:all:",
               "--disable-pip-version-check", "--no-warn-conflicts", "-q", "--target", str(site)]
    if python_version:
        command += ["--python-version", python_version, "--implementation", "cp"]
        command += [f"--platform={tag}_x86_64" for tag in ("manylinux2014", "manylinux_2_17", "manylinux_2_28")]
    return command + [str(w) for w in wheels]


def ensure_packages(site: Path = SITE, wheels_dir: Path = WHEELS) -> dict:
    """Install the carried wheels whose module does not import here into `site` (pip, or
    unzipping where pip is missing) and put `site` first on the path of this process and its
    children. Nothing is installed when every carried module is already there."""
    if site.is_dir():  # installed by an earlier run on this machine
        use_site(site)
    missing = [(req, module) for req, module in carried() if find_spec(module) is None]
    report = {"present": [req for req, module in carried() if (req, module) not in missing], "installed": [],
              "site": str(site)}
    if not missing:
        return report
    wheels = sorted(wheels_dir.glob("*.whl"))
    chosen = {req: wheel_for(req, wheels) for req, _ in missing}
    report["no_wheel"] = [req for req, wheel in chosen.items() if wheel is None]
    files = [wheel for wheel in chosen.values() if wheel is not None]
    try:
        site.mkdir(parents=True, exist_ok=True)
    except OSError:  # a read-only checkout
        site = Path(tempfile.mkdtemp(prefix="nnvis-gpu-site-"))
        report["site"] = str(site)
    start = time.perf_counter()
    if find_spec("pip") is not None:
        done = subprocess.run(install_command(files, site), capture_output=True, text=True)
        report["pip"] = {"returncode": done.returncode, "tail": (done.stdout + done.stderr)[-2000:]}
        if done.returncode:  # pip installs all or none: one at a time, so that one bad wheel costs only itself
            report["pip"]["one_by_one"] = {wheel.name: subprocess.run(install_command([wheel], site),
                                                                       capture_output=True).returncode
                                           for wheel in files}
    else:  # a wheel is a zip laid out as site-packages
        for wheel in files:
            zipfile.ZipFile(wheel).extractall(site)
        report["pip"] = "absent: wheels unzipped"
    report["install_s"] = round(time.perf_counter() - start, 2)
    use_site(site)
    report["import_errors"] = import_errors([module for _, module in missing])
    report["installed"] = [req for req, module in missing if module not in report["import_errors"]]
    return report


def use_site(site: Path) -> None:
    """Put `site` first on the module path of this process and of the processes it starts."""
    if str(site) not in sys.path:
        sys.path.insert(0, str(site))
    paths = os.environ.get("PYTHONPATH", "").split(os.pathsep)
    if str(site) not in paths:
        os.environ["PYTHONPATH"] = os.pathsep.join(filter(None, [str(site), *paths]))


def import_errors(modules: list[str]) -> dict[str, str]:
    """The modules that fail to import, with the error (checked in one fresh process)."""
    code = ("import importlib, json, sys\nerrors = {}\nfor name in sys.argv[1:]:\n    try:\n"
            "        importlib.import_module(name)\n    except Exception as error:\n"
            "        errors[name] = f'{type(error).__name__}: {error}'[:300]\nprint(json.dumps(errors))")
    done = subprocess.run([sys.executable, "-c", code, *modules], capture_output=True, text=True)
    try:
        return json.loads(done.stdout.strip().splitlines()[-1])
    except (IndexError, ValueError):
        return {"(check)": (done.stderr.strip() or "no output")[-300:]}


def machine() -> dict:
    """The machine: bench_core's CPU / torch / date block, plus the GPU's name, driver and memory
    (nvidia-smi) and the versions of the packages measured."""
    import importlib.metadata

    import torch
    from bench_core import machine as cpu_machine

    info = cpu_machine()
    info["cuda"] = torch.version.cuda
    if shutil.which("nvidia-smi"):
        done = subprocess.run(["nvidia-smi", "--query-gpu=name,driver_version,memory.total",
                               "--format=csv,noheader"], capture_output=True, text=True)
        info["nvidia_smi"] = done.stdout.strip() or done.stderr.strip()
    versions = {}
    for name in ("numpy", "scipy", "scikit-learn", "numba", "torchvision", "openTSNE", "umap-learn",
                 "pynndescent", "torchdr", "faiss-cpu", "faiss-gpu-cu12", "pytest"):
        try:
            versions[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            versions[name] = None
    info["packages"] = versions
    return info


def run_stage(name: str, work: Path, seconds: float) -> dict:
    """Run stages.py `name` with a time limit; its figures so far, with how it ended."""
    start = time.monotonic()
    try:
        done = subprocess.run([sys.executable, str(HERE / "stages.py"), name, str(work)], capture_output=True,
                              text=True, timeout=seconds)
        status = "ok" if done.returncode == 0 else f"error (exit {done.returncode})"
        tail = done.stderr[-3000:] if done.returncode else ""
    except subprocess.TimeoutExpired as stopped:
        status, tail = f"stopped at its limit of {seconds:.0f} s", (stopped.stderr or b"")[-3000:]
        tail = tail.decode(errors="replace") if isinstance(tail, bytes) else tail
    path = work / f"{name}.json"
    figures = json.loads(path.read_text()) if path.exists() else {}
    return {"status": status, "seconds": round(time.monotonic() - start, 1), "limit_s": round(seconds),
            **({"stderr_tail": tail} if tail else {}), **figures}


def gpu_test_files() -> list[str]:
    """Test files with gpu-marked tests that need no web packages (the bare machine has none)."""
    files = []
    for path in sorted((ROOT / "tests").rglob("test_*.py")):
        text = path.read_text()
        if "mark.gpu" in text and not re.search(r"\b(dash|playwright|flask)\b", text):
            files.append(str(path.relative_to(ROOT)))
    return files


def run_pytest(seconds: float, mnist_dir: str) -> dict:
    """`pytest -m gpu` on the gpu-marked test files, with the carried MNIST as their `mnist_dir`
    (the repository's conftest looks for ../shared/data, which the GPU machine does not have)."""
    files = gpu_test_files()
    command = [sys.executable, "-m", "pytest", "-m", "gpu", "-q", "-rs", "-p", "no:cacheprovider", "--noconftest",
               "-p", "pytest_gpu_data", *files]
    env = {**os.environ, "NNVIS_KIT_MNIST": mnist_dir,
           "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), str(HERE), os.environ.get("PYTHONPATH")]))}
    start = time.monotonic()
    try:
        done = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=seconds)
        output, status = done.stdout + done.stderr, f"exit {done.returncode}"
    except subprocess.TimeoutExpired as stopped:
        output = stopped.stdout.decode(errors="replace") if isinstance(stopped.stdout, bytes) else stopped.stdout or ""
        status = f"stopped at its limit of {seconds:.0f} s"
    lines = [line for line in output.splitlines() if re.search(r"\d+ (passed|failed|skipped|deselected|error)", line)]
    return {"status": status, "command": " ".join(command[1:]), "files": files,
            "summary": lines[-1].strip("= ") if lines else None, "seconds": round(time.monotonic() - start, 1),
            "limit_s": round(seconds),
            "tail": output[-4000:]}


def usable_cores() -> int:
    """NNVIS_THREADS if set, else the CPUs this process may run on, within its cgroup's quota
    (os.cpu_count() can count a whole host of which a container gets 16)."""
    if os.environ.get("NNVIS_THREADS"):
        return int(os.environ["NNVIS_THREADS"])
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    try:
        quota, period = Path("/sys/fs/cgroup/cpu.max").read_text().split()[:2]
        if quota != "max":
            cores = min(cores, max(1, math.ceil(int(quota) / int(period))))
    except (OSError, ValueError):
        pass
    return cores


def write(out: Path, results: dict) -> None:
    (out / "results.json").write_text(json.dumps(results, indent=1, default=str))
    try:
        write_markdown(results, out / "results.md")
    except Exception as error:  # the JSON has the figures; the run goes on
        (out / "results.md").write_text(f"results.md could not be written: {type(error).__name__}: {error}\n")


def default_mnist() -> str:
    carried_copy = HERE / "data" / "mnist"
    return str(carried_copy if carried_copy.is_dir() else ROOT.parent / "shared" / "data" / "mnist")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path(os.environ.get("OUT") or HERE / "out"))
    parser.add_argument("--cpu-smoke", action="store_true", help="small sizes on the CPU")
    parser.add_argument("--budget", type=float, default=430.0, help="seconds for the whole run (default 430)")
    parser.add_argument("--mnist", default=default_mnist(), help="folder of the four MNIST IDX files")
    parser.add_argument("--wheels", type=Path, default=WHEELS, help="the carried wheels (default %(default)s)")
    parser.add_argument("--site", type=Path, default=SITE, help="where missing ones install (default %(default)s)")
    args = parser.parse_args(argv)
    deadline = time.monotonic() + args.budget
    args.out.mkdir(parents=True, exist_ok=True)
    os.environ["NNVIS_THREADS"] = str(usable_cores())  # the stages' and pytest's projections
    device = "cpu" if args.cpu_smoke else "cuda"
    config = {"mode": "cpu-smoke" if args.cpu_smoke else "gpu", "device": device, "mnist_dir": args.mnist,
              "cores": int(os.environ["NNVIS_THREADS"]), "budget_s": args.budget,
              **(SMOKE_SIZES if args.cpu_smoke else GPU_SIZES)}
    results = {"config": config, "install": ensure_packages(args.site, args.wheels), "stages": {}}
    try:
        results["machine"] = machine()
    except Exception as error:
        results["machine"] = {"error": f"{type(error).__name__}: {error}"}
    write(args.out, results)
    with tempfile.TemporaryDirectory(prefix="nnvis-gpu-kit-") as folder:
        work = Path(folder)
        (work / "config.json").write_text(json.dumps(config))
        for name, seconds in STAGE_SECONDS.items():
            left = deadline - time.monotonic()
            # the CPU smoke run checks that every stage works, on any machine, loaded or not: only
            # the whole budget limits it (the stage limits share out a GPU machine's time)
            limit = left if args.cpu_smoke else min(seconds or left, left)
            if limit < 5:
                results["stages"][name] = {"status": "skipped: no time left"}
            elif name == "pytest_gpu":
                results["stages"][name] = run_pytest(limit, args.mnist)
            else:
                results["stages"][name] = run_stage(name, work, limit)
            print(f"{name}: {results['stages'][name]['status']}", flush=True)
            write(args.out, results)
    print((args.out / "results.md").read_text())


if __name__ == "__main__":
    main()
