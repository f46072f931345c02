// Video files and camera frames in the page: a small IoU tracker (stable ids and colours,
// a per-person summary), scene-cut detection as faceattrs/video/session.py SceneCuts does
// it (a cut ends every track), and a video walker that seeks through a file in fixed steps
// and keeps each person's best face crop. Simpler than faceattrs/video/tracking.py (no
// motion prediction), but with its attribute smoothing: a score-weighted exponential mean
// over `smoothS` seconds, expression probabilities over `expressionS` (0.3 s, as
// EXPRESSION_SMOOTH_S there: expressions change faster). With `persons`, tracks are joined
// into persons by face embedding (persons.js, as faceattrs video --reid does):
// re-identification after leaving the view and across cuts.

import { argmax } from "./attributes.js";
import { PersonRegistry, summarizePersons } from "./persons.js";

const iou = (a, b) => {
  const w = Math.max(0, Math.min(a[2], b[2]) - Math.max(a[0], b[0]));
  const h = Math.max(0, Math.min(a[3], b[3]) - Math.max(a[1], b[1]));
  const inter = w * h;
  const union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter;
  return union > 0 ? inter / union : 0;
};

export const EXPRESSION_SMOOTH_S = 0.3; // tracking.py EXPRESSION_SMOOTH_S

/** Exponentially weighted mean of one vector over time (tracking.py _Ewma). */
class Ewma {
  constructor() {
    this.sums = null;
    this.weight = 0;
    this.t = null;
  }

  add(values, weight, t, timeConstant) {
    const decay = this.sums === null || this.t === null || timeConstant <= 0
      ? 0 : Math.exp(-Math.max(t - this.t, 0) / timeConstant);
    this.sums = values.map((v, i) => (this.sums === null ? 0 : decay * this.sums[i]) + v * weight);
    this.weight = decay * this.weight + weight;
    this.t = t;
    return this.sums.map((v) => v / this.weight);
  }
}

/** The face's expression probabilities averaged over `timeConstant` seconds of its track. */
function smoothExpression(ewma, face, t, timeConstant) {
  if (!face.expression_probs) return face;
  const labels = Object.keys(face.expression_probs);
  const mean = ewma.add(Object.values(face.expression_probs), Math.max(face.score, 1e-3), t, timeConstant);
  const total = mean.reduce((s, v) => s + v, 0) || 1;
  const probs = Object.fromEntries(labels.map((label, i) => [label, mean[i] / total]));
  return { ...face, expression: argmax(probs), expression_probs: probs };
}

/** Exponentially weighted means of one track's attributes (tracking.py _Smoothed). */
export class Smoothed {
  constructor() {
    this.attributes = new Ewma();
    this.expression = new Ewma();
  }

  /** The face with its age, interval and probabilities averaged over the track so far
   * (expression probabilities over `expressionS` seconds). */
  add(face, t, timeConstant, expressionS = EXPRESSION_SMOOTH_S) {
    face = smoothExpression(this.expression, face, t, expressionS);
    const genders = Object.keys(face.gender_probs);
    const races = Object.keys(face.race_probs);
    const values = [face.age, ...face.age_interval, ...Object.values(face.gender_probs), ...Object.values(face.race_probs)];
    const mean = this.attributes.add(values, Math.max(face.score, 1e-3), t, timeConstant);
    const probs = (labels, start) => {
      const total = labels.reduce((sum, _, i) => sum + mean[start + i], 0) || 1;
      return Object.fromEntries(labels.map((label, i) => [label, mean[start + i] / total]));
    };
    const genderProbs = probs(genders, 3);
    const raceProbs = probs(races, 3 + genders.length);
    return {
      ...face,
      age: mean[0],
      age_interval: [mean[1], mean[2]],
      gender: argmax(genderProbs),
      gender_probs: genderProbs,
      race: argmax(raceProbs),
      race_probs: raceProbs,
    };
  }
}

const THUMB_W = 64;
const THUMB_H = 36;

/** The 8x8x8 colour histogram of a 64x36 RGBA thumbnail (counts, 512 bins). */
export function colourHistogram(rgba) {
  const hist = new Float64Array(512);
  for (let i = 0; i < rgba.length; i += 4) hist[((rgba[i] >> 5) << 6) | ((rgba[i + 1] >> 5) << 3) | (rgba[i + 2] >> 5)] += 1;
  return hist;
}

/** OpenCV's HISTCMP_BHATTACHARYYA distance of two histograms. */
export function bhattacharyya(a, b) {
  let sa = 0;
  let sb = 0;
  let cross = 0;
  for (let i = 0; i < a.length; i += 1) {
    sa += a[i];
    sb += b[i];
    cross += Math.sqrt(a[i] * b[i]);
  }
  const norm = Math.sqrt(sa * sb);
  return norm > 0 ? Math.sqrt(Math.max(0, 1 - cross / norm)) : 0;
}

/** Hard cuts between consecutive frames (session.py SceneCuts): the Bhattacharyya distance
 * of the colour histograms of 64x36 thumbnails above `threshold`. */
export class SceneCuts {
  constructor(threshold = 0.18) {
    this.threshold = threshold;
    this.previous = null;
    this.canvas = null;
  }

  /** Whether the picture of `source` (video, canvas, image) starts a new shot. */
  isCut(source) {
    this.canvas ||= Object.assign(document.createElement("canvas"), { width: THUMB_W, height: THUMB_H });
    const ctx = this.canvas.getContext("2d", { willReadFrequently: true });
    ctx.imageSmoothingQuality = "high";
    ctx.drawImage(source, 0, 0, THUMB_W, THUMB_H);
    return this.isCutThumb(ctx.getImageData(0, 0, THUMB_W, THUMB_H).data);
  }

  /** The same for a ready 64x36 RGBA thumbnail. */
  isCutThumb(rgba) {
    const hist = colourHistogram(rgba);
    const previous = this.previous;
    this.previous = hist;
    return previous !== null && bhattacharyya(previous, hist) > this.threshold;
  }
}

export class FaceTracker {
  /** Greedy IoU matching with the last box of each track seen within `maxGap` seconds;
   * attributes smoothed over `smoothS` seconds, expressions over `expressionS` (0: as
   * predicted). */
  constructor({ minIou = 0.3, maxGap = 1.0, smoothS = 1.0, expressionS = EXPRESSION_SMOOTH_S } = {}) {
    this.minIou = minIou;
    this.maxGap = maxGap;
    this.smoothS = smoothS;
    this.expressionS = expressionS;
    this.tracks = [];
    this.nextId = 1;
  }

  /** Give each face a track_id, add it to its track's record (the summary uses the
   * predictions as they came) and return the faces with smoothed attributes. */
  update(faces, time) {
    const live = this.tracks.filter((t) => !t.ended && time - t.last_time <= this.maxGap);
    const pairs = [];
    faces.forEach((face, f) => live.forEach((track, t) => {
      const overlap = iou(face.box, track.box);
      if (overlap >= this.minIou) pairs.push([overlap, f, t]);
    }));
    pairs.sort((a, b) => b[0] - a[0]);
    const usedFaces = new Set();
    const usedTracks = new Set();
    const out = faces.map((face) => ({ ...face }));
    for (const [, f, t] of pairs) {
      if (usedFaces.has(f) || usedTracks.has(t)) continue;
      usedFaces.add(f);
      usedTracks.add(t);
      out[f].track_id = live[t].track_id;
    }
    return out.map((face) => {
      let track = this.tracks.find((t) => t.track_id === face.track_id);
      if (!track) {
        face.track_id = this.nextId;
        this.nextId += 1;
        track = {
          track_id: face.track_id, first_time: time, frames: 0, ages: [], lows: [], highs: [], gender: {}, race: {},
          expression: {}, smoothed: new Smoothed(),
        };
        this.tracks.push(track);
      }
      track.box = face.box;
      track.last_time = time;
      track.frames += 1;
      track.ages.push(face.age);
      track.lows.push(face.age_interval[0]);
      track.highs.push(face.age_interval[1]);
      for (const [k, p] of Object.entries(face.gender_probs)) track.gender[k] = (track.gender[k] || 0) + p;
      for (const [k, p] of Object.entries(face.race_probs)) track.race[k] = (track.race[k] || 0) + p;
      const shown = track.smoothed.add(face, time, this.smoothS, this.expressionS);
      if (shown.expression_probs) { // frames per shown (smoothed) top expression, as process.py
        for (const label of Object.keys(shown.expression_probs)) track.expression[label] ??= 0;
        track.expression[shown.expression] += 1;
      }
      return shown;
    });
  }

  /** A scene cut: no later face continues a track seen so far. */
  cut() {
    for (const track of this.tracks) track.ended = true;
  }

  /** One record per person: when seen, mean age, interval and probabilities. */
  summary() {
    const mean = (values) => values.reduce((s, v) => s + v, 0) / values.length;
    const probs = (sums, n) => Object.fromEntries(Object.entries(sums).map(([k, v]) => [k, v / n]));
    return this.tracks.map((t) => {
      const gender = probs(t.gender, t.frames);
      const race = probs(t.race, t.frames);
      return {
        track_id: t.track_id, first_time: t.first_time, last_time: t.last_time, frames: t.frames,
        age: mean(t.ages), age_interval: [Math.round(mean(t.lows)), Math.round(mean(t.highs))],
        gender: argmax(gender), gender_probs: gender, race: argmax(race), race_probs: race,
        ...(Object.keys(t.expression).length ? { expression_shares: probs(t.expression, t.frames) } : {}),
      };
    });
  }
}

const seek = (video, time) => new Promise((resolve, reject) => {
  const done = () => { video.removeEventListener("seeked", done); video.removeEventListener("error", fail); resolve(); };
  const fail = () => { video.removeEventListener("seeked", done); reject(new Error("the browser cannot decode this video")); };
  video.addEventListener("seeked", done);
  video.addEventListener("error", fail);
  video.currentTime = time;
});

/** Load a video file into a (detached) video element; rejects when the browser cannot play it. */
export function openVideo(url) {
  return new Promise((resolve, reject) => {
    const video = document.createElement("video");
    video.muted = true;
    video.preload = "auto";
    video.onloadeddata = () => resolve(video);
    video.onerror = () => reject(new Error("this browser cannot decode the video (try MP4/H.264 or WebM)"));
    video.src = url;
  });
}

/** A square crop (`size` px) around a face's box (x1, y1, x2, y2 in `source` pixels),
 * as a data URL. */
export function faceCrop(source, [x1, y1, x2, y2], size = 96) {
  const side = 1.3 * Math.max(x2 - x1, y2 - y1);
  const canvas = Object.assign(document.createElement("canvas"), { width: size, height: size });
  const ctx = canvas.getContext("2d");
  ctx.fillStyle = "#ddd";
  ctx.fillRect(0, 0, size, size);
  ctx.drawImage(source, (x1 + x2) / 2 - side / 2, (y1 + y2) / 2 - side / 2, side, side, 0, 0, size, size);
  return canvas.toDataURL("image/jpeg", 0.85);
}

/** The picture of a video element at its own size, as RGBA ImageData. */
function frameImage(video) {
  const { videoWidth: w, videoHeight: h } = video;
  const canvas = Object.assign(document.createElement("canvas"), { width: w, height: h });
  const ctx = canvas.getContext("2d", { willReadFrequently: true });
  ctx.drawImage(video, 0, 0, w, h);
  return ctx.getImageData(0, 0, w, h);
}

/** Load the face-embedding model for `persons` (null, with `error` set, when it fails). */
async function loadEmbedder(onModelProgress, state) {
  try {
    const { loadEmbeddingModel } = await import("./embedding.js");
    return await loadEmbeddingModel({ onProgress: onModelProgress });
  } catch (error) {
    state.error = `persons not identified: ${error.message || error}`;
    return null;
  }
}

/** Analyse a video every `step` seconds: frames [{time, faces, cut}] with track ids, the
 * per-track summary (each with `crop`, its best-detected face) and the scene cuts.
 * `analyse(video)` analyses the current frame; `job.cancelled` stops. With `persons`, the
 * face-embedding model is loaded first (`onModelProgress` follows its download) and a few
 * embeddings per track (from the full-size frame, as faceattrs video does) join tracks into
 * persons: faces and tracks get `person_id`, `persons` lists one entry per person (each
 * with the crop of their best face) and `embedded` counts the embeddings computed;
 * `personsError` says why not, if not. */
export async function walkVideo(video, analyse, {
  step = 0.2, onProgress = () => {}, job = {}, persons = false, onModelProgress = () => {},
} = {}) {
  const state = {};
  const embedder = persons ? await loadEmbedder(onModelProgress, state) : null;
  const registry = embedder ? new PersonRegistry({ threshold: embedder.threshold }) : null;
  const tracker = new FaceTracker({ maxGap: Math.max(1.0, 3 * step) });
  const cuts = new SceneCuts();
  const best = new Map(); // track id -> {quality, crop}
  const frames = [];
  const duration = Number.isFinite(video.duration) ? video.duration : 0;
  for (let time = 0; time <= duration && !job.cancelled; time += step) {
    if (time > 0) await seek(video, time);
    const cut = cuts.isCut(video);
    if (cut) tracker.cut();
    const result = await analyse(video);
    const faces = tracker.update(result.faces, time);
    const scale = video.videoWidth / result.width;
    for (const face of faces) {
      const [x1, y1, x2, y2] = face.box;
      const quality = face.score * (x2 - x1) * (y2 - y1);
      if (!(best.get(face.track_id)?.quality >= quality)) {
        best.set(face.track_id, { quality, crop: faceCrop(video, face.box.map((v) => v * scale)) });
      }
    }
    if (registry) {
      // persons.py judges and embeds faces in the frame's own pixels
      const full = faces.map((face) => ({
        ...face, box: face.box.map((v) => v * scale), keypoints: face.keypoints.map(([x, y]) => [x * scale, y * scale]),
      }));
      const wanted = registry.wanted(full, time);
      if (wanted.length) {
        const embeddings = await embedder.embed(frameImage(video), wanted.map((i) => full[i]));
        wanted.forEach((i, n) => registry.observe(full[i].track_id, embeddings[n], time, full[i]));
      }
    }
    frames.push({ time, width: result.width, height: result.height, faces, cut });
    onProgress(duration > 0 ? Math.min(1, time / duration) : 1, frames.length);
  }
  const tracks = tracker.summary().map((track) => ({ ...track, crop: best.get(track.track_id)?.crop }));
  const cutTimes = frames.filter((f) => f.cut).map((f) => f.time);
  if (!registry) return { frames, tracks, cuts: cutTimes, personsError: state.error };
  const personOf = registry.regroup();
  for (const frame of frames) {
    for (const face of frame.faces) if (personOf.has(face.track_id)) face.person_id = personOf.get(face.track_id);
  }
  for (const track of tracks) track.person_id = personOf.get(track.track_id) ?? null;
  const bestCrop = (ids) => ids.map((id) => best.get(id)).filter(Boolean)
    .reduce((a, b) => (a && a.quality >= b.quality ? a : b), null)?.crop;
  const people = summarizePersons(tracks, personOf).map((person) => ({ ...person, crop: bestCrop(person.tracks) }));
  return { frames, tracks, persons: people, cuts: cutTimes, embedded: registry.sampleCount };
}
