"""Every speed-and-scale benchmark in one command: projections vs openTSNE / umap-learn, neuron
clicks, the 1,000,000-point density view and cold start (bench_scale.py), capture vs plain
forward (bench_capture.py), and cache miss vs hit (bench_core.py --quick). Each script prints
its own table; their JSON files are gathered into one.

    .venv/bin/python benchmarks/run_all.py [--json benchmarks/results-all.json] [--gpu]

`--gpu` runs the GPU-sized variants (70,000 projected points, ResNet-50 at 224x224 in bf16).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent


def commands(gpu: bool, folder: Path) -> dict[str, list[str]]:
    """The scripts to run, by name, with their arguments (each writes its JSON into `folder`)."""
    scale = ["--points", "70000"] if gpu else []
    capture = ["--device", "cuda", "--precision", "bfloat16", "--size", "224", "--images", "8192"] if gpu else []
    return {"scale": ["bench_scale.py", *scale, "--json", str(folder / "scale.json")],
            "capture": ["bench_capture.py", *capture, "--json", str(folder / "capture.json")],
            "cache": ["bench_core.py", "--quick", "--json", str(folder / "cache.json")]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", type=Path, default=HERE / "results-all.json")
    parser.add_argument("--gpu", action="store_true", help="GPU-sized variants (needs CUDA)")
    args = parser.parse_args()
    gathered = {}
    with tempfile.TemporaryDirectory() as scratch:
        for name, command in commands(args.gpu, Path(scratch)).items():
            print(f"== {name}: {' '.join(command)}", flush=True)
            finished = subprocess.run([sys.executable, str(HERE / command[0]), *command[1:]], check=False)
            output = Path(command[-1])
            gathered[name] = json.loads(output.read_text()) if output.exists() else {
                "error": f"exit status {finished.returncode}"}
    args.json.write_text(json.dumps(gathered, indent=2))
    print(f"wrote {args.json}")


if __name__ == "__main__":
    main()
