"""What bench/run_all.py quotes without measuring it: the accuracy figures that ``faceattrs
evaluate``, ``evaluate-cross`` and ``baseline`` wrote (their commands beside), and where the
figures come from (the model file's digest, the commit, the previous default from git)."""

from __future__ import annotations

import hashlib
import json
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
OURS_REPORT = ROOT / "reports" / "eval" / "utkface_test" / "metrics.json"
BASELINE_REPORT = ROOT / "reports" / "baseline" / "metrics.json"
OURS_COMMAND = (
    "faceattrs evaluate src/faceattrs/models/attributes.onnx --split test --scenes "
    "--out reports/eval/utkface_test"
)
BASELINE_COMMAND = "faceattrs baseline --epochs 30 --patience 3"
CROSS_REPORT = ROOT / "reports" / "eval" / "cross_wide64" / "cross.json"
CROSS_MODELS = {"wide64": "this model", "distilled": "previous model"}  # cross.json name -> label
ACCURATE_REPORT = ROOT / "reports" / "eval" / "cross_accurate" / "cross.json"
FER_REPORT = ROOT / "reports" / "eval" / "fer_val" / "metrics.json"
MODEL_PATH = "src/faceattrs/models/attributes.onnx"
# The default before wide64 (`distilled`, 2026-11-29 to 2026-12-01): its speed is measured
# beside this model's in every full run (read from git, so the figures stay side by side).
PREVIOUS_MODEL_REV = "56973f1~1"
FER_COMMAND = (
    "faceattrs evaluate src/faceattrs/models/expression.onnx --dataset fer --split val "
    "--out reports/eval/fer_val"
)


def read_cross(path: Path = CROSS_REPORT, names: dict[str, str] = CROSS_MODELS) -> dict:
    """This model and the previous one (``names``: cross.json name -> label) on both test
    splits through the detector (the ``evaluate-cross`` report that compares them; its
    command is in the file)."""
    if not path.is_file():
        return {"missing": relative(path)}
    raw = json.loads(path.read_text())
    models = {}
    for name, label in names.items():
        entry = raw["models"].get(name)
        if entry:
            ff, utk = entry["fairface"], entry["utkface_detected"]
            ff_keys = ("n", "gender_accuracy", "race_accuracy", "age_bin_accuracy")
            utk_keys = ("n", "age_mae", "gender_accuracy", "race_accuracy")
            models[label] = {
                "fairface": {k: ff[k] for k in ff_keys},
                "utkface": {k: utk[k] for k in utk_keys},
            }
    return {"models": models, "report": relative(path), "command": raw["command"]}


def read_fer_metrics(path: Path = FER_REPORT) -> dict:
    """The expression model's FER val figures (crops, and through the pipeline)."""
    if not path.is_file():
        return {"missing": relative(path), "command": FER_COMMAND}
    raw = json.loads(path.read_text())
    keep = ("n", "accuracy", "macro_f1")
    found = {"crops": {k: raw["crops"][k] for k in keep}, "model": raw.get("model")}
    if "pipeline" in raw:
        pipe = raw["pipeline"]
        found["pipeline"] = {k: pipe["detected_faces"][k] for k in keep}
        found["pipeline"]["detection_rate"] = pipe["detection_rate"]
        found["pipeline"]["align_border"] = pipe.get("align_border", pipe.get("border"))
        for border, other in pipe.get("other_alignments", {}).items():
            found[f"pipeline_aligned_on_{border}"] = {k: other["detected_faces"][k] for k in keep}
    return {**found, "report": relative(path), "command": raw.get("command", FER_COMMAND)}


def read_metrics(path: Path, command: str) -> dict:
    if not path.is_file():
        return {"missing": relative(path), "command": command}
    metrics = json.loads(path.read_text())
    keep = ("n", "age_mae", "age_cs5", "gender_accuracy", "race_accuracy", "model", "split")
    keep += ("model_sha256",)
    found = {key: metrics.get(key) for key in keep}
    scenes = (metrics.get("scenes") or {}).get("through_detection_and_alignment")
    if scenes:
        found["through_detection"] = {
            key: scenes.get(key) for key in ("n", "age_mae", "gender_accuracy", "race_accuracy")
        }
        found["through_detection"]["detection_rate"] = metrics["scenes"].get("detection_rate")
    return {**found, "report": relative(path), "command": command}


def relative(path: Path) -> str:
    return str(path.relative_to(ROOT)) if path.is_relative_to(ROOT) else str(path)


def model_id(path: Path) -> str:
    if not path.is_file():
        return f"{relative(path)} (missing)"
    return f"{relative(path)} (sha256 {digest(path)})"


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()[:12]


def commit() -> str:
    done = subprocess.run(
        ["git", "describe", "--always", "--dirty"], cwd=ROOT, capture_output=True, text=True
    )
    return done.stdout.strip() or "unknown"


def previous_model(tmp: Path) -> Path | None:
    """The default attribute model before this one, from git (None without the history)."""
    done = subprocess.run(
        ["git", "show", f"{PREVIOUS_MODEL_REV}:{MODEL_PATH}"], cwd=ROOT, capture_output=True
    )
    if done.returncode != 0 or not done.stdout:
        return None
    path = tmp / "previous_model.onnx"
    path.write_bytes(done.stdout)
    return path
