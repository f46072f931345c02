"""The table of ``bench/run_all.py``: one row per figure, with the command that measures it."""

from __future__ import annotations

from pathlib import Path

VIDEO_STAGES = {  # bench_video.py stage -> label in the table
    "analyse+track+write, every=1": "every frame + annotated .mp4",
    "analyse+track, no video out": "every frame, no video out",
    "analyse+track+write, every=2": "every 2nd frame + .mp4",
    "analyse+track+write, every=3": "every 3rd frame + .mp4",
    "decode": "decode only",
}


def rows(figures: dict) -> list[tuple[str, str, str]]:
    """(what, figure, command) for the table."""
    table = []
    acc = figures.get("accuracy", {})
    for key, label in (("ours", "this model"), ("seed_baseline", "seed baseline")):
        m = acc.get(key, {})
        if "age_mae" in m:
            text = (
                f"age MAE {m['age_mae']:.2f} y, gender {100 * m['gender_accuracy']:.1f}%, "
                f"race {100 * m['race_accuracy']:.1f}% (n={m['n']})"
            )
            text += f" WARNING: {m['warning']}" if m.get("warning") else ""
            table.append((f"UTKFace test, {label}", text, f"{m['command']}  [{m['report']}]"))
        elif m:
            table.append((f"UTKFace test, {label}", f"missing {m['missing']}", m["command"]))
    tiers = (acc.get("versus_previous", {}), acc.get("accurate_tier", {}))
    for versus, label, m in [(v, k, m) for v in tiers for k, m in v.get("models", {}).items()]:
        ff, utk = m["fairface"], m["utkface"]
        text = (
            f"FairFace gender {100 * ff['gender_accuracy']:.1f}%, race "
            f"{100 * ff['race_accuracy']:.1f}%, age bin {100 * ff['age_bin_accuracy']:.1f}% "
            f"(n={ff['n']}); UTKFace age MAE {utk['age_mae']:.2f} y, gender "
            f"{100 * utk['gender_accuracy']:.1f}%, race {100 * utk['race_accuracy']:.1f}% "
            f"(n={utk['n']})"
        )
        where = f"{versus['command']}  [{versus['report']}]"
        table.append((f"both test splits through the detector, {label}", text, where))
    fer = acc.get("expression", {})
    if "crops" in fer:
        text = (
            f"crops {100 * fer['crops']['accuracy']:.1f}% (macro-F1 {fer['crops']['macro_f1']:.3f})"
        )
        if "pipeline" in fer:
            pipe = fer["pipeline"]
            text += (
                f", through detection + alignment {100 * pipe['accuracy']:.1f}% (macro-F1 "
                f"{pipe['macro_f1']:.3f}, {100 * pipe['detection_rate']:.1f}% detected)"
            )
        black = fer.get("pipeline_aligned_on_constant")
        if black:
            text += (
                f"; aligned from black padding {100 * black['accuracy']:.1f}% (macro-F1 "
                f"{black['macro_f1']:.3f})"
            )
        table.append(("FER val, expression", text, f"{fer['command']}  [{fer['report']}]"))
    elif fer:
        table.append(("FER val, expression", f"missing {fer['missing']}", fer["command"]))
    a = figures.get("analyze", {})
    if a.get("latency_median_ms") is not None:
        stages = ", ".join(f"{k} {v:.1f}" for k, v in a["stages_median_ms"].items())
        table.append(
            (
                "analyze latency per photo",
                f"median {a['latency_median_ms']:.1f} ms, p90 {a['latency_p90_ms']:.1f} ms "
                f"(from JPEG bytes {a['latency_jpeg_median_ms']:.1f} ms, 1 thread "
                f"{a['latency_1_thread_median_ms']:.1f} ms; {a['photo']}; stages ms: {stages})"
                + (
                    f"; whole CLI on {a['cli_photos']} such photos {a['cli_seconds']:.2f} s"
                    if a.get("cli_seconds")
                    else ""
                ),  # fmt: skip
                a["command"],
            )
        )
        table.append(
            (
                "attribute model throughput",
                f"{a['faces_per_s_batch_1']:.0f} faces/s at batch 1, "
                f"{a['faces_per_s_batch_32']:.0f} at batch 32",
                a["command"],
            )
        )
        table += previous_model_rows(a.get("previous_model", {}), a)
        table += cli_history_rows(a.get("cli_history", {}))
        if a.get("accurate_latency_median_ms") is not None:
            text = f"analyze median {a['accurate_latency_median_ms']:.1f} ms"
            if a.get("accurate_extra_ms_per_face") is not None:
                text += f"; embedding + heads {a['accurate_extra_ms_per_face']:.2f} ms per face"
            table.append(("accurate tier (--model accurate)", text, a["command"]))
    table += expression_rows(figures.get("expression", {}))
    v = figures.get("video", {})
    if v.get("stages"):
        shown_stages = {name: label for name, label in VIDEO_STAGES.items() if name in v["stages"]}
        text = ", ".join(f"{label} {v['stages'][name]['fps']:.1f} fps"
                         for name, label in shown_stages.items())  # fmt: skip
        table.append(("video (frames/s)", f"{text} ({v['video']})", v["command"]))
    table += identity_rows(figures.get("identity", {}))
    lo = figures.get("load", {})
    if lo.get("images"):
        im, st, mem = lo["images"], lo["streams"], lo["server_memory"]
        table.append(
            (
                "server under load",
                f"{lo['config']['clients']} clients: {im['per_s']:.2f} req/s, "
                f"{im['faces_per_s']:.1f} faces/s, p50 {im['p50_ms']} ms, p99 {im['p99_ms']} ms; "
                f"{lo['config']['streams']} camera streams: {st['per_s']:.2f} frames/s, "
                f"p50 {st['p50_ms']} ms; shed {im.get('shed', 0)} + {st.get('shed', 0)}; "
                f"5xx {im['5xx']}, dropped {im['dropped'] + st['dropped']}; "
                f"peak RSS {mem.get('peak_rss_mib')} MiB",
                lo["command"],
            )
        )
    b = figures.get("batch", {})
    if b.get("photos"):
        cores = b["cores"]
        text = (
            f"local engine {b['local, 1 thread']['images_per_s']} images/s on 1 thread, "
            f"{b[f'local, {cores} threads']['images_per_s']} on {cores} threads"
        )
        if "ray, warm" in b:
            text += (
                f"; Ray ({b['ray_actors']}): start-up {b['ray start-up']['seconds']} s, "
                f"first run {b['ray, cold']['images_per_s']} images/s, "
                f"second {b['ray, warm']['images_per_s']}"
            )
        else:
            text += f"; Ray {b.get('ray')}"
        table.append(("many photos, Parquet (images/s)", f"{text} ({b['photos']})", b["command"]))
    br = figures.get("browser", {})
    if br.get("skipped"):
        table.append(("in-browser mode (Chromium)", f"skipped: {br['skipped']}", br["command"]))
    elif br:
        text = "; ".join(
            f"{mode} ({br[mode]['threads']} thread{'s' if br[mode]['threads'] > 1 else ''}): "
            f"pipeline {br[mode]['pipeline_fps']:.1f} fps "
            f"({br[mode].get('frame_ms_mean', br[mode]['frame_ms_median']):.0f} ms/frame), "
            f"camera loop {br[mode]['camera_loop_fps']:.1f} fps, first image (models cached) "
            f"{br[mode]['first_image_cached_s']:.2f} s"
            for mode in ("threaded", "isolated, page's default threads", "single-thread")
            if mode in br
        )
        table.append(("in-browser mode (Chromium)", f"{text}; {br['chromium']}", br["command"]))
    d = figures.get("detection", {})
    if d.get("sets"):
        sets = {name: s for name, s in d["sets"].items() if "padded" not in name}
        recall = ", ".join(f"{name} {s['recall_pct']:.1f}%" for name, s in sets.items())
        ff, t = d["face_free"], d["time_1280x720"]
        shirt = d["photos"].get("deepface/img26.jpg shirt boxes")
        text = (
            f"found: {recall} (n={d['sets']['fairface 160px']['n']} per set); "
            f"{ff['false_faces_per_100']} false faces per 100 face-free images (n={ff['n']}), "
            f"{shirt} on img26's shirt; detect() {t['cpu_ms_median']} CPU ms per 1280x720 photo"
        )
        table.append(("face detector", text, d["command"]))
    elif d.get("skipped"):
        table.append(("face detector", f"skipped: {d['skipped']}", ""))
    for name, error in figures.get("errors", {}).items():
        table.append((name, f"FAILED: {error}", ""))
    return table


def previous_model_rows(p: dict, ours: dict) -> list[tuple[str, str, str]]:
    """bench_analyze.py on the default this model replaced, run after this model's."""
    if p.get("missing"):
        return [("speed, previous model", f"missing: {p['missing']}", "")]
    if p.get("latency_median_ms") is None:
        return []
    ratio = ours["faces_per_s_batch_32"] / p["faces_per_s_batch_32"]
    text = (
        f"analyze median {p['latency_median_ms']:.1f} ms (this model "
        f"{ours['latency_median_ms']:.1f}), {p['faces_per_s_batch_32']:.0f} faces/s at batch 32 "
        f"(this model {ours['faces_per_s_batch_32']:.0f}: {ratio:.2f}x)"
    )
    if p.get("cli_seconds") and ours.get("cli_seconds"):
        text += (
            f", whole CLI on {p['cli_photos']} photos {p['cli_seconds']:.2f} s (this model "
            f"{ours['cli_seconds']:.2f} s)"
        )
    return [("speed, previous model", f"{text}; {p['model']}", p["command"])]


def cli_history_rows(h: dict) -> list[tuple[str, str, str]]:
    """bench_cli_history.py: the whole CLI now and on the day issue #16 was filed."""
    if not h.get("runs"):
        return []
    return [("whole CLI since #16 was filed", "; ".join(h["runs"]), h["command"])]


def expression_rows(e: dict) -> list[tuple[str, str, str]]:
    """bench_expression.py: ms per face of each model, and the share of ``analyze``."""
    if not e.get("models") and not e.get("photo"):
        return []
    costs = ", ".join(
        f"{name} {m['cpu_ms']:.2f} CPU ms/face" for name, m in e.get("models", {}).items()
    )
    text = f"{costs} (batch {e['batch']}, {e['threads']} thread)"
    photo = e.get("photo")
    if photo:
        text += (
            f"; analyze {Path(photo['photo']).name} ({photo['faces']} faces) "
            f"{photo['without_cpu_ms']:.1f} CPU ms without the head, {photo['with_cpu_ms']:.1f} "
            f"with it: +{100 * photo['overhead_median_of_turns']:.1f}% (median of turns; "
            f"target <= 10%)"
        )
    return [("expression head cost", text, e["command"])]


def identity_rows(i: dict) -> list[tuple[str, str, str]]:
    """bench_embedding.py: embedding ms per face, ``people``, video fps with re-id on/off."""
    if i.get("skipped"):
        return [("identity embeddings", f"skipped: {i['skipped']}", "")]
    if not i.get("seconds"):
        return []
    parts = []
    for step, (wall, _cpu) in i["seconds"].items():
        scale = 1 if "(total)" in step else 1000
        parts.append(f"{step} {scale * wall:.1f} {'s' if scale == 1 else 'ms'}")
    text = "; ".join(parts) + f" ({i['threads']} thread, {i['faces']} faces)"
    ratio = i.get("fps_reid_on_over_off")
    if ratio:
        text += f"; video fps re-id on / off {ratio['wall']:.2f} (target >= 0.9)"
    return [("identity embeddings (wall)", text, i["command"])]


def markdown(figures: dict) -> str:
    m = figures["machine"]
    lines = [
        f"# faceattrs benchmark ({'quick' if figures['quick'] else 'full'} run)",
        "",
        f"{figures['finished']} UTC, commit {figures['commit']}, model {figures['model']}",
        f"Machine: {m['cpu']}, {m['cores']} cores ({m['usable_cores']} usable), "
        f"{m['ram_gib']} GiB RAM, {m['os']}, Python {m['python']}; load average at start "
        f"{' / '.join(str(x) for x in m['load_average'])}",
        f"Command: `{figures['command']}` ({figures['seconds']:.0f} s)",
        "",
        "| what | figure | command |",
        "| --- | --- | --- |",
    ]
    lines += [f"| {what} | {text} | `{cmd}` |" if cmd else f"| {what} | {text} | |"
              for what, text, cmd in rows(figures)]  # fmt: skip
    return "\n".join(lines) + "\n"
