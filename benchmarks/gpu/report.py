"""The GPU kit's Markdown report (results.md) from its results.json dictionary."""

from __future__ import annotations

from pathlib import Path

import numpy as np

TARGET_N = 70_000
TIME_TARGETS_S = {"tsne": 2.0, "umap": 1.5}  # nnvis on the GPU, all 70,000 digits
NH_TOLERANCE = 0.01  # against the CPU reference
CAPTURE_TARGET = 0.9  # capture / plain forward
PROFILE_PARTS = ("to_device_and_checks", "knn", "affinities_without_knn", "optimisation", "to_host_and_normalise")


def table(header: list[str], rows: list[list]) -> list[str]:
    return ["| " + " | ".join(header) + " |", "|" + "---|" * len(header),
            *("| " + " | ".join(str(cell) for cell in row) + " |" for row in rows)]


def runs(results: dict, stage: str) -> list[dict]:
    return results.get("stages", {}).get(stage, {}).get("runs", [])


def projection_rows(results: dict) -> list[dict]:
    """One row per (n, method): nnvis's best time on the engine against the CPU reference."""
    config = results["config"]
    references = runs(results, "cpu_reference")
    rows = []
    for n in (config["large"], config["small"]):
        for method in ("tsne", "umap"):
            ours = [r for r in runs(results, "gpu_projection") if r["n"] == n and r["method"] == method]
            theirs = next((r for r in references if r["n"] == n and r["method"] == method), None)
            best = min(ours, key=lambda r: r["seconds"]) if ours else None
            row = {"n": n, "method": method, "nnvis_s": [r["seconds"] for r in ours],
                   "nnvis_nh": best["nh"] if best else None, "reference": theirs}
            if best and theirs:
                row["speedup"] = round(theirs["seconds"] / best["seconds"], 1)
                row["nh_difference"] = round(best["nh"] - theirs["nh"], 4)
            if n == TARGET_N and best:
                row["target_met"] = (best["seconds"] <= TIME_TARGETS_S[method]
                                     and theirs is not None and abs(row["nh_difference"]) <= NH_TOLERANCE)
            rows.append(row)
    return rows


def machine_lines(machine: dict) -> list[str]:
    if "error" in machine:
        return [f"- machine: not read ({machine['error']})"]
    packages = ", ".join(f"{k} {v}" for k, v in machine.get("packages", {}).items() if v)
    return [f"- GPU: {machine.get('nvidia_smi') or machine.get('gpu')} (nvidia-smi: name, driver, memory)",
            f"- CPU: {machine.get('cpu_model')}, {machine.get('cpu_count')} CPUs; Python {machine.get('python')}, "
            f"torch {machine.get('torch')} (CUDA {machine.get('cuda')}), date {machine.get('date')}, "
            f"code {machine.get('source')}",
            f"- packages: {packages}"]


def write_markdown(results: dict, path: Path) -> None:
    """results.md: projections against the references, the GPU profile, capture, pytest, stages."""
    config, stages = results["config"], results.get("stages", {})
    device = config["device"]
    lines = [f"# nnvis GPU kit ({config['mode']})", "", *machine_lines(results.get("machine", {})), ""]
    activations = stages.get("activations", {})
    if "capture_hidden4" in activations:
        lines += [f"Paper MLP trained 1 epoch on {activations['train']['digits']:,} MNIST train digits on {device} "
                  f"in {activations['train']['seconds']} s; hidden4 (1000-d) captured for "
                  f"{activations['capture_hidden4']['digits']:,} digits in {activations['capture_hidden4']['seconds']}"
                  f" s; test accuracy {activations['capture_hidden4']['test_accuracy']}.", ""]
    rows = []
    for row in projection_rows(results):
        ref = row["reference"] or {}
        rows.append([f"{row['n']:,}", row["method"], ", ".join(map(str, row["nnvis_s"])) or "-",
                     row["nnvis_nh"] if row["nnvis_nh"] is not None else "-",
                     f"{ref.get('library', '-')} ({ref.get('cores', '-')} cores)", ref.get("seconds", "-"),
                     ref.get("nh", "-"), row.get("speedup", "-"), row.get("nh_difference", "-"),
                     {True: "met", False: "missed"}.get(row.get("target_met"), "-")])
    lines += ["## Projections (NH with k = 6)", "",
              *table(["points", "method", f"nnvis torchdr on {device}: s (each run)", "NH", "reference", "s", "NH",
                      "speed-up (best run)", "NH difference", "target (70k: t-SNE <= 2 s, UMAP <= 1.5 s, NH within "
                      "0.01)"], rows), ""]
    profiled = [r for r in runs(results, "gpu_projection") if r.get("profile")]
    lines += ["## Where nnvis's torchdr time went (s)", "",
              *table(["points", "method", "run", "total", *PROFILE_PARTS],
                     [[f"{r['n']:,}", r["method"], r["repeat"], r["seconds"], *(r["profile"][p] for p in PROFILE_PARTS)]
                      for r in profiled]), ""]
    gpu = stages.get("gpu_projection", {})
    if "host_to_device" in gpu:
        copy = gpu["host_to_device"]
        lines += [f"Copying all {copy['rows']:,} activations ({copy['mib']} MiB) to {device}: {copy['seconds']} s.", ""]
    errors = [f"- {name}: {e['method']} at {e['n']:,} points: {e['error']}"
              for name in ("gpu_projection", "cpu_reference") for e in stages.get(name, {}).get("errors", [])]
    lines += ["Errors:", "", *errors, ""] if errors else []
    lines += capture_lines(stages.get("capture", {}))
    test = stages.get("pytest_gpu", {})
    lines += ["## pytest -m gpu", "", f"{test.get('summary')} ({test.get('status')}, {test.get('seconds')} s; "
              f"files: {', '.join(test.get('files', []))})", "", "## Stages", "",
              *table(["stage", "status", "s", "limit s"], [[name, s["status"], s.get("seconds", "-"),
                                                            s.get("limit_s", "-")] for name, s in stages.items()]),
              "", f"Installed from the carried wheels: {', '.join(results['install'].get('installed', [])) or 'none'}"
              f"; import errors: {results['install'].get('import_errors') or 'none'}.", ""]
    path.write_text("\n".join(lines))


def capture_lines(capture: dict) -> list[str]:
    if not capture.get("capture_img_s"):
        return ["## Capture", "", f"no figures ({capture.get('status', 'not run')})", ""]
    setup = capture["setup"]
    plain = [r["rate"] for r in capture["plain_img_s"]]
    captured = [r["rate"] for r in capture["capture_img_s"]]
    ratio = capture.get("ratio_of_medians", float("nan"))  # absent when stopped between two runs
    return [f"## Capture: ResNet-50, {setup['images']} images {setup['size']}x{setup['size']}, batch "
            f"{setup['batch_size']}, {setup['precision']}, channel means of {setup['blocks']} residual blocks", "",
            *table(["plain forward img/s (median; runs)", "nnvis capture img/s (median; runs)", "ratio",
                    f"target >= {CAPTURE_TARGET}"],
                   [[f"{np.median(plain):,.0f}; " + ", ".join(f"{r:,.0f}" for r in plain),
                     f"{np.median(captured):,.0f}; " + ", ".join(f"{r:,.0f}" for r in captured), ratio,
                     "met" if ratio >= CAPTURE_TARGET else "missed"]]), ""]
