// Video files and camera frames in the page: a small IoU tracker (stable ids and colours,
// a per-person summary) and a video walker that seeks through a file in fixed steps.
// Simpler than faceattrs/tracking.py (no motion prediction, no scene-cut detection), but
// with its attribute smoothing: a score-weighted exponential mean over `smoothS` seconds.

import { argmax } from "./attributes.js";

const iou = (a, b) => {
  const w = Math.max(0, Math.min(a[2], b[2]) - Math.max(a[0], b[0]));
  const h = Math.max(0, Math.min(a[3], b[3]) - Math.max(a[1], b[1]));
  const inter = w * h;
  const union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter;
  return union > 0 ? inter / union : 0;
};

/** Exponentially weighted means of one track's attributes (tracking.py _Smoothed). */
export class Smoothed {
  constructor() {
    this.sums = null;
    this.weight = 0;
    this.t = null;
  }

  /** The face with its age, interval and probabilities averaged over the track so far. */
  add(face, t, timeConstant) {
    const genders = Object.keys(face.gender_probs);
    const races = Object.keys(face.race_probs);
    const values = [face.age, ...face.age_interval, ...Object.values(face.gender_probs), ...Object.values(face.race_probs)];
    const weight = Math.max(face.score, 1e-3);
    const decay = this.sums === null || this.t === null || timeConstant <= 0
      ? 0 : Math.exp(-Math.max(t - this.t, 0) / timeConstant);
    this.sums = values.map((v, i) => (this.sums === null ? 0 : decay * this.sums[i]) + v * weight);
    this.weight = decay * this.weight + weight;
    this.t = t;
    const mean = this.sums.map((v) => v / this.weight);
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

export class FaceTracker {
  /** Greedy IoU matching with the last box of each track seen within `maxGap` seconds;
   * attributes smoothed over `smoothS` seconds (0: as predicted). */
  constructor({ minIou = 0.3, maxGap = 1.0, smoothS = 1.0 } = {}) {
    this.minIou = minIou;
    this.maxGap = maxGap;
    this.smoothS = smoothS;
    this.tracks = [];
    this.nextId = 1;
  }

  /** Give each face a track_id, add it to its track's record (the summary uses the
   * predictions as they came) and return the faces with smoothed attributes. */
  update(faces, time) {
    const live = this.tracks.filter((t) => time - t.last_time <= this.maxGap);
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
          smoothed: new Smoothed(),
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
      return track.smoothed.add(face, time, this.smoothS);
    });
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

/** Analyse a video every `step` seconds: frames [{time, faces}] with track ids, and the
 * per-person summary. `analyse(video)` analyses the current frame; `job.cancelled` stops. */
export async function walkVideo(video, analyse, { step = 0.2, onProgress = () => {}, job = {} } = {}) {
  const tracker = new FaceTracker({ maxGap: Math.max(1.0, 3 * step) });
  const frames = [];
  const duration = Number.isFinite(video.duration) ? video.duration : 0;
  for (let time = 0; time <= duration && !job.cancelled; time += step) {
    if (time > 0) await seek(video, time);
    const result = await analyse(video);
    frames.push({ time, width: result.width, height: result.height, faces: tracker.update(result.faces, time) });
    onProgress(duration > 0 ? Math.min(1, time / duration) : 1, frames.length);
  }
  return { frames, tracks: tracker.summary() };
}
