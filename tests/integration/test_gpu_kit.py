"""The GPU benchmark kit (benchmarks/gpu): its CPU smoke run on real MNIST digits, and whether
the wheels it carries cover what the measured code imports on a machine that has only torch,
torchvision, numpy, scipy, scikit-learn, pandas and numba."""

import importlib.metadata
import json
import math
import os
import re
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
KIT = ROOT / "benchmarks" / "gpu"
sys.path.insert(0, str(KIT))

import kit  # noqa: E402

PREINSTALLED = ("torch", "torchvision", "numpy", "scipy", "scikit-learn", "pandas", "numba")
PROFILE_PARTS = ("to_device_and_checks", "knn", "affinities_without_knn", "optimisation", "to_host_and_normalise")


@pytest.fixture(scope="module")
def smoke(mnist_dir, tmp_path_factory):
    """One `kit.py --cpu-smoke` run: (results.json as a dict, results.md as text)."""
    out = tmp_path_factory.mktemp("gpu-kit")
    done = subprocess.run([sys.executable, str(KIT / "kit.py"), "--cpu-smoke", "--out", str(out), "--mnist",
                           str(mnist_dir), "--budget", "2400"], cwd=ROOT, capture_output=True, text=True, timeout=2700,
                          env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads((out / "results.json").read_text()), (out / "results.md").read_text()


@pytest.mark.slow  # kept out of the default run for its time (15-55 s); run with `pytest -m slow`
def test_smoke_run_projects_real_digits_with_every_engine(smoke):
    results, _ = smoke
    stages = results["stages"]
    assert {name: s["status"] for name, s in stages.items()} == {
        "activations": "ok", "gpu_projection": "ok", "capture": "ok", "pytest_gpu": "exit 0", "cpu_reference": "ok"}
    assert stages["activations"]["shape"] == [1000, 1000]  # 1,000 digits at the MLP's 1000-wide hidden4
    assert stages["activations"]["capture_hidden4"]["test_accuracy"] > 0.8  # one epoch on 6,000 digits: 0.85
    ours = {(r["n"], r["method"]): r for r in stages["gpu_projection"]["runs"]}
    references = {(r["n"], r["method"]): r for r in stages["cpu_reference"]["runs"]}
    assert ours.keys() == references.keys() == {(n, m) for n in (1000, 500) for m in ("tsne", "umap")}
    assert {r["library"] for r in references.values()} == {"openTSNE", "umap-learn"}
    for key, run in ours.items():
        assert run["seconds"] > 0 and references[key]["seconds"] > 0
        assert run["nh"] > 0.7 and references[key]["nh"] > 0.7, (key, run, references[key])
        assert abs(run["nh"] - references[key]["nh"]) < 0.05  # measured within 0.02
        parts = run["profile"]
        assert parts["knn"] > 0 and parts["optimisation"] > 0
        assert math.isclose(sum(parts[p] for p in PROFILE_PARTS), run["seconds"], rel_tol=0.02, abs_tol=0.01)
    assert references[(1000, "tsne")]["nh"] > 0.8 and ours[(1000, "tsne")]["nh"] > 0.75


@pytest.mark.slow  # kept out of the default run for its time (15-55 s); run with `pytest -m slow`
def test_smoke_run_reports_capture_machine_pytest_and_a_table(smoke):
    results, markdown = smoke
    capture = results["stages"]["capture"]
    assert capture["captured"] == {"layers": 16, "widths": [256, 512, 1024, 2048], "finite": True}
    assert math.isfinite(capture["ratio_of_medians"]) and 0.3 < capture["ratio_of_medians"] < 3
    assert all(r["rate"] > 0 for r in capture["plain_img_s"] + capture["capture_img_s"])
    machine = results["machine"]
    assert machine["gpu"] == "no GPU" and machine["cpu_count"] >= 1 and machine["torch"]
    assert machine["packages"]["torchdr"] and machine["packages"]["openTSNE"]
    pytest_run = results["stages"]["pytest_gpu"]
    assert pytest_run["files"] == ["tests/integration/test_gpu_projection.py"]
    assert re.match(r"3 skipped, \d+ deselected", pytest_run["summary"])  # no CUDA here: the gpu tests skip
    assert results["install"]["installed"] == []  # everything imports here: nothing installed
    assert "| 1,000 | tsne |" in markdown and "| 500 | umap |" in markdown
    for heading in ("## Projections", "## Where nnvis's torchdr time went", "## Capture: ResNet-50",
                    "## pytest -m gpu", "## Stages"):
        assert heading in markdown


def distribution_closure(names) -> set[str]:
    """The distributions `names` need (Requires-Dist without extras, markers evaluated), recursively."""
    from packaging.requirements import Requirement

    seen, todo = set(), list(names)
    while todo:
        name = re.sub(r"[-_.]+", "-", todo.pop()).lower()
        if name in seen:
            continue
        try:
            requires = importlib.metadata.distribution(name).requires or []
        except importlib.metadata.PackageNotFoundError:
            continue
        seen.add(name)
        for line in requires:
            requirement = Requirement(line)
            if requirement.marker is None or requirement.marker.evaluate({"extra": ""}):
                todo.append(requirement.name)
    return seen


def bare_site(distributions: set[str], folder: Path) -> Path:
    """A folder of links to what `distributions` installed here (modules, .libs, dist-info):
    the site-packages of a machine that has only those."""
    folder.mkdir()
    for name in distributions:
        dist = importlib.metadata.distribution(name)
        base = Path(dist.locate_file(""))
        for top in {f.parts[0] for f in dist.files or [] if f.parts[0] != ".."}:
            if (base / top).exists() and not (folder / top).exists():
                (folder / top).symlink_to(base / top)
    return folder


BARE_CHECK = """
import numpy as np
import openTSNE, pynndescent, torchdr, umap
from nnvis.models.activations import capture
from nnvis.projection.gpu import torchdr_project
from nnvis.projection.methods import project
import kit, report, stages, pytest_gpu_data
x = np.random.default_rng(0).normal(size=(120, 8)).astype(np.float32)
project(x, "tsne", n_jobs=1)
torchdr_project(x, "tsne", device="cpu", max_iter=20)
torchdr_project(x, "umap", device="cpu", max_iter=20)
try:
    import dash
except ImportError:
    print("bare ok")
"""


def test_carried_wheels_cover_what_the_measured_code_imports_on_the_bare_machine(tmp_path):
    """In a Python that sees only the preinstalled packages (with their dependencies) and the
    carried ones, as on the GPU machine, the measured code imports and runs."""
    carried = {re.sub(r"[-_.]+", "-", requirement.split("==")[0]).lower() for requirement, _ in kit.carried()}
    site = bare_site(distribution_closure(PREINSTALLED) | carried, tmp_path / "site")  # not what they need
    assert (site / "torch").is_dir() and (site / "umap").is_dir() and not (site / "dash").exists()
    done = subprocess.run([sys.executable, "-S", "-c", BARE_CHECK], cwd=ROOT, capture_output=True, text=True,
                          timeout=300, env={**os.environ, "PYTHONPATH": os.pathsep.join(
                              map(str, [site, ROOT, KIT, KIT.parent]))})
    assert done.returncode == 0 and "bare ok" in done.stdout, done.stderr[-3000:]


def test_prepared_wheels_are_the_carried_list_and_install_for_python_312(tmp_path):
    """After prepare.sh: one wheel per carried requirement and no other, and pip installs them
    offline for CPython 3.12 on manylinux x86-64, each import name then present."""
    wheels = sorted((KIT / "wheels").glob("*.whl"))
    if not wheels:
        pytest.skip("benchmarks/gpu/wheels is empty: run `bash benchmarks/gpu/prepare.sh` first")
    chosen = {requirement: kit.wheel_for(requirement, wheels) for requirement, _ in kit.carried()}
    assert None not in chosen.values(), chosen
    assert sorted(chosen.values()) == wheels  # nothing carried that is not on the list
    done = subprocess.run(kit.install_command(wheels, tmp_path / "site", python_version="3.12"),
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    for _, module in kit.carried():
        assert (tmp_path / "site" / module).is_dir() or (tmp_path / "site" / f"{module}.py").is_file(), module
    assert list((tmp_path / "site" / "openTSNE").glob("*cpython-312-x86_64-linux-gnu.so"))  # the 3.12 build


def test_packages_installed_by_an_earlier_run_reach_the_stage_processes(tmp_path, monkeypatch):
    """A second run on the same machine finds the carried module in the site folder the first
    run filled: nothing is installed, and the folder is on PYTHONPATH for the stages."""
    (tmp_path / "site" / "carried_by_the_kit").mkdir(parents=True)
    (tmp_path / "site" / "carried_by_the_kit" / "__init__.py").write_text("")
    monkeypatch.setattr(kit, "carried", lambda: [("carried-by-the-kit==1.0", "carried_by_the_kit")])
    monkeypatch.setattr(sys, "path", list(sys.path))
    monkeypatch.setenv("PYTHONPATH", str(ROOT))
    report = kit.ensure_packages(tmp_path / "site", tmp_path / "no-wheels")
    assert report["installed"] == [] and report["present"] == ["carried-by-the-kit==1.0"]
    assert os.environ["PYTHONPATH"].split(os.pathsep) == [str(tmp_path / "site"), str(ROOT)]
    done = subprocess.run([sys.executable, "-c", "import carried_by_the_kit"], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr


def test_a_missing_module_without_its_wheel_is_reported(tmp_path, monkeypatch):
    monkeypatch.setattr(kit, "carried", lambda: [("not-carried==1.0", "not_carried_anywhere")])
    monkeypatch.setattr(sys, "path", list(sys.path))
    monkeypatch.setenv("PYTHONPATH", str(ROOT))
    report = kit.ensure_packages(tmp_path / "site", tmp_path / "no-wheels")
    assert report["no_wheel"] == ["not-carried==1.0"] and report["installed"] == []
    assert "not_carried_anywhere" in report["import_errors"]


def test_one_wheel_that_does_not_install_costs_only_itself(tmp_path, monkeypatch):
    """pip installs all the wheels of one command or none: after a failure each is retried
    alone, the good one installs, and only the broken one is reported as not importing."""
    wheels = tmp_path / "wheels"
    wheels.mkdir()
    (wheels / "diskcache-5.6.3-py3-none-any.whl").write_bytes(b"not a zip")  # a broken download
    with zipfile.ZipFile(wheels / "carried_good-1.0-py3-none-any.whl", "w") as archive:
        archive.writestr("carried_good/__init__.py", "")
        archive.writestr("carried_good-1.0.dist-info/METADATA", "Metadata-Version: 2.1\nName: carried-good\n"
                         "Version: 1.0\n")
        archive.writestr("carried_good-1.0.dist-info/WHEEL", "Wheel-Version: 1.0\nRoot-Is-Purelib: true\n"
                         "Tag: py3-none-any\n")
        archive.writestr("carried_good-1.0.dist-info/RECORD", "")
    monkeypatch.setattr(kit, "carried", lambda: [("diskcache==5.6.3", "diskcache_as_carried"),
                                                 ("carried-good==1.0", "carried_good")])
    monkeypatch.setattr(sys, "path", list(sys.path))
    monkeypatch.setenv("PYTHONPATH", str(ROOT))
    report = kit.ensure_packages(tmp_path / "site", wheels)
    retried = report["pip"]["one_by_one"]
    assert report["pip"]["returncode"] != 0 and retried["carried_good-1.0-py3-none-any.whl"] == 0
    assert retried["diskcache-5.6.3-py3-none-any.whl"] != 0
    assert report["installed"] == ["carried-good==1.0"] and list(report["import_errors"]) == ["diskcache_as_carried"]
