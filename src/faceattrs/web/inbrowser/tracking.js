// Tracks in the page, mirroring faceattrs/video/tracking.py: FaceTracker matches each
// frame's faces to the tracks of earlier frames (greedy, best first, by the IoU of each
// track's constant-velocity prediction, with a centre-distance fallback for tracks seen in
// the previous update or lost for at most maxNearLostS; confirmed tracks choose first; a
// face two live confirmed tracks could claim starts a new track; an unmatched face over
// maxOverlap of a tracked one starts none) and smooths its attributes (Smoothed: a
// score-weighted exponential mean over `smoothS` seconds, expression probabilities over
// `expressionS`). A track gets its id once seen in `minHits` updates (or in the first
// `minHits` updates after a start or a cut); a tentative track ends at its first miss. The
// video walk uses tracking.py's min_hits (3); the camera 1, so a face shows from its first
// frame. tests/browser/test_inbrowser_tracking.py checks the ids against tracking.py's.

import { argmax } from "./attributes.js";

const VELOCITY_POINTS = 6; // tracking.py: recent detections a track's velocity is fitted to ...
const VELOCITY_WINDOW_S = 0.5; // ... within this many seconds

/** IoU of every box of `a` with every box of `b` (boxes [x1, y1, x2, y2]). */
export function boxIou(a, b) {
  const area = (r) => (r[2] - r[0]) * (r[3] - r[1]);
  return a.map((r) => b.map((q) => {
    const inter = Math.max(0, Math.min(r[2], q[2]) - Math.max(r[0], q[0])) * Math.max(0, Math.min(r[3], q[3]) - Math.max(r[1], q[1]));
    return inter / Math.max(area(r) + area(q) - inter, 1e-9);
  }));
}

/** The share of the smaller box that two boxes share (boxes.py overlap_of_smaller). */
function overlapOfSmaller(r, q) {
  const inter = Math.max(0, Math.min(r[2], q[2]) - Math.max(r[0], q[0])) * Math.max(0, Math.min(r[3], q[3]) - Math.max(r[1], q[1]));
  const smaller = Math.min((r[2] - r[0]) * (r[3] - r[1]), (q[2] - q[0]) * (q[3] - q[1]));
  return inter / Math.max(smaller, 1e-9);
}

const centre = (b) => [(b[0] + b[2]) / 2, (b[1] + b[3]) / 2];

/** Greedy one-to-one matching, best pair first: [track index, face index] pairs
 * (tracking.py match_boxes): IoU >= iouThreshold ranks first; below it a pair may match
 * when the centres are less than maxDistance face sizes apart and the sizes differ by less
 * than 2x, for the tracks where nearOk[t] (default: all). */
export function matchBoxes(tracks, faces, iouThreshold = 0.3, maxDistance = 0.7, nearOk = null) {
  if (!tracks.length || !faces.length) return [];
  const iou = boxIou(tracks, faces);
  const size = (b) => Math.sqrt(Math.max((b[2] - b[0]) * (b[3] - b[1]), 1e-9));
  const scored = [];
  tracks.forEach((t, ti) => faces.forEach((f, fi) => {
    const [st, sf] = [size(t), size(f)];
    const [ct, cf] = [centre(t), centre(f)];
    const distance = Math.hypot(ct[0] - cf[0], ct[1] - cf[1]) / Math.max(st, sf);
    const near = distance < maxDistance && Math.max(st, sf) / Math.min(st, sf) < 2.0 && (!nearOk || nearOk[ti]);
    const fallback = iouThreshold * (1.0 - distance / maxDistance) * 0.999;
    const score = iou[ti][fi] >= iouThreshold ? iou[ti][fi] : near ? fallback : 0;
    if (score > 0) scored.push([score, ti * faces.length + fi, ti, fi]);
  }));
  scored.sort((a, b) => b[0] - a[0] || a[1] - b[1]); // numpy's stable argsort of -score
  const usedT = new Set();
  const usedF = new Set();
  const pairs = [];
  for (const [, , ti, fi] of scored) {
    if (usedT.has(ti) || usedF.has(fi)) continue;
    pairs.push([ti, fi]);
    usedT.add(ti);
    usedF.add(fi);
  }
  return pairs;
}

/** One track's motion (tracking.py _Track): last box and time, velocity of the centre. */
class Motion {
  constructor(box, t) {
    this.box = box;
    this.t = t;
    this.history = [[t, centre(box)]];
    this.velocity = [0, 0];
  }

  /** The box moved along the centre's velocity. */
  predict(t, horizon) {
    const dt = Math.min(Math.max(t - this.t, 0), horizon);
    const [dx, dy] = [this.velocity[0] * dt, this.velocity[1] * dt];
    return [this.box[0] + dx, this.box[1] + dy, this.box[2] + dx, this.box[3] + dy];
  }

  /** A new detection: the velocity is the least-squares slope of the recent centres. */
  observe(box, t) {
    this.box = box;
    this.t = t;
    this.history.push([t, centre(box)]);
    if (this.history.length > VELOCITY_POINTS) this.history.shift();
    const recent = this.history.filter(([ti]) => ti >= t - VELOCITY_WINDOW_S);
    if (recent.length < 2) return;
    const meanT = recent.reduce((s, [ti]) => s + ti, 0) / recent.length;
    const meanC = [0, 1].map((k) => recent.reduce((s, [, c]) => s + c[k], 0) / recent.length);
    const denominator = recent.reduce((s, [ti]) => s + (ti - meanT) ** 2, 0);
    if (denominator > 0) {
      this.velocity = [0, 1].map((k) => recent.reduce((s, [ti, c]) => s + (ti - meanT) * (c[k] - meanC[k]), 0) / denominator);
    }
  }
}

export const EXPRESSION_SMOOTH_S = 0.3; // smoothing.py EXPRESSION_SMOOTH_S

/** Exponentially weighted mean of one vector over time (smoothing.py Ewma). */
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

/** Exponentially weighted means of one track's attributes (smoothing.py SmoothedAttributes). */
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

export class FaceTracker {
  /** tracking.py FaceTracker's options (`minHits` 1 here, 3 there); `maxGap`: its
   * max_lost_s. Attributes smoothed over `smoothS` seconds, expressions over `expressionS`
   * (0: as predicted). */
  constructor({
    iouThreshold = 0.3, maxDistance = 0.7, maxGap = 1.0, maxPredictS = 0.5, maxOverlap = 0.3,
    maxNearLostS = 0.2, smoothS = 1.0, expressionS = EXPRESSION_SMOOTH_S, minHits = 1,
  } = {}) {
    Object.assign(this, { iouThreshold, maxDistance, maxGap, maxPredictS, maxOverlap, maxNearLostS, smoothS, expressionS, minHits });
    this.tracks = []; // one record per track id (for the summary)
    this.live = []; // the tracks faces may still join: {motion, hits, record (null: tentative), smoothed}
    this.lastT = null;
    this.updates = 0; // since the start or the last cut
    this.nextId = 1;
  }

  /** Face index -> live track (tracking.py _match): confirmed tracks choose first, so a
   * tentative one (often a second detection) cannot take their face. */
  match(boxes, t) {
    this.live = this.live.filter((tr) => t - tr.motion.t <= this.maxGap);
    const trackOf = new Map();
    for (const confirmed of [true, false]) {
      const tracks = this.live.filter((tr) => (tr.record !== null) === confirmed);
      const free = boxes.map((_, fi) => fi).filter((fi) => !trackOf.has(fi));
      const predicted = tracks.map((tr) => tr.motion.predict(t, this.maxPredictS));
      const nearOk = tracks.map((tr) => tr.motion.t === this.lastT || t - tr.motion.t <= this.maxNearLostS);
      const pairs = matchBoxes(predicted, free.map((fi) => boxes[fi]), this.iouThreshold, this.maxDistance, nearOk);
      for (const [ti, fi] of pairs) trackOf.set(free[fi], tracks[ti]);
    }
    return trackOf;
  }

  /** Faces whose track ends here (tracking.py _ambiguous): two confirmed tracks seen in the
   * previous update could both claim the face but only one got it, so which person is left
   * is a guess; the face starts a new track and re-identification joins the pieces. */
  ambiguous(trackOf, boxes, t) {
    const claimed = new Set(trackOf.values());
    const losers = this.live.filter((tr) => tr.record !== null && tr.motion.t === this.lastT && !claimed.has(tr));
    if (!losers.length) return new Set();
    const predicted = losers.map((tr) => tr.motion.predict(t, this.maxPredictS));
    const restart = new Set();
    for (const [fi, tr] of trackOf) {
      if (tr.record === null || tr.motion.t !== this.lastT) continue;
      if (Math.max(...boxIou([boxes[fi]], predicted)[0]) >= this.iouThreshold) restart.add(fi);
    }
    return restart;
  }

  /** Track ids for this frame's boxes (null: a tentative track's face, or a second
   * detection of a tracked face). */
  assign(boxes, time) {
    return this.assignTracks(boxes, time).map((track) => track?.record?.track_id ?? null);
  }

  /** The live track of each box (tracking.py update's bookkeeping); null: a second
   * detection of a tracked face. */
  assignTracks(boxes, time) {
    this.updates += 1;
    const trackOf = this.match(boxes, time);
    const restart = this.ambiguous(trackOf, boxes, time);
    const ended = new Set([...restart].map((fi) => trackOf.get(fi)));
    const matched = new Set(trackOf.values());
    // tentative tracks end at their first miss
    this.live = this.live.filter((tr) => !ended.has(tr) && (tr.record !== null || matched.has(tr)));
    this.lastT = time;
    const held = [...trackOf].filter(([, tr]) => tr.record !== null).map(([fi]) => boxes[fi]);
    return boxes.map((box, fi) => {
      let track = trackOf.get(fi);
      if (restart.has(fi)) { // confirmed at once: a tracked face, only its identity is open
        track = this.newTrack(box, time, this.minHits);
      } else if (!track) {
        if (held.some((b) => overlapOfSmaller(box, b) > this.maxOverlap)) return null;
        track = this.newTrack(box, time, 1);
      } else {
        track.motion.observe(box, time);
        track.hits += 1;
      }
      if (track.record === null && (track.hits >= this.minHits || this.updates <= this.minHits)) {
        track.record = this.newRecord(time);
      }
      if (track.record !== null) track.record.last_time = time;
      return track;
    });
  }

  newTrack(box, time, hits) {
    const track = { motion: new Motion(box, time), hits, record: null, smoothed: new Smoothed() };
    this.live.push(track);
    return track;
  }

  newRecord(time) {
    const record = {
      track_id: this.nextId, first_time: time, last_time: time, frames: 0, ages: [], lows: [], highs: [],
      gender: {}, race: {}, expression: {},
    };
    this.nextId += 1;
    this.tracks.push(record);
    return record;
  }

  /** The faces of confirmed tracks (tracking.py update): each with its track_id, added to
   * its track's record (the summary uses the predictions as they came), its attributes
   * smoothed (a tentative track's faces count in its smoothing, as there). */
  update(faces, time) {
    const tracks = this.assignTracks(faces.map((face) => face.box), time);
    const out = [];
    faces.forEach((face, i) => {
      const track = tracks[i];
      if (!track) return;
      const id = track.record?.track_id ?? null;
      const shown = track.smoothed.add({ ...face, track_id: id }, time, this.smoothS, this.expressionS);
      if (id === null) return;
      const record = track.record;
      record.frames += 1;
      record.ages.push(face.age);
      record.lows.push(face.age_interval[0]);
      record.highs.push(face.age_interval[1]);
      for (const [k, p] of Object.entries(face.gender_probs)) record.gender[k] = (record.gender[k] || 0) + p;
      for (const [k, p] of Object.entries(face.race_probs)) record.race[k] = (record.race[k] || 0) + p;
      if (shown.expression_probs) { // frames per shown (smoothed) top expression, as process.py
        for (const label of Object.keys(shown.expression_probs)) record.expression[label] ??= 0;
        record.expression[shown.expression] += 1;
      }
      out.push(shown);
    });
    return out;
  }

  /** A scene cut: no later face continues a track seen so far (tracking.py reset). */
  cut() {
    this.live = [];
    this.lastT = null;
    this.updates = 0;
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
