// Persons across tracks in the page, mirroring faceattrs/video/persons.py (PersonRegistry,
// embeddable, summarize_persons) and pipeline/people.py (cluster_faces): each track's
// face is embedded a few times (its first embeddable analysed frame, then every
// `sampleEveryS` up to `samplesPerTrack`), never every frame; after the last frame the
// tracks' mean embeddings are clustered (average linkage, stopped at the embedding model's
// same-person threshold; tracks seen in one frame are never joined). The embeddings stay
// in this page's memory for the length of the video.

export const MAX_YAW = 0.3;
export const MIN_SCORE = 0.7;
export const MIN_SIDE = 40;

const unit = (vector) => {
  let sum = 0;
  for (const v of vector) sum += v * v;
  const norm = Math.max(Math.sqrt(sum), 1e-12);
  return Float64Array.from(vector, (v) => v / norm);
};
/** The unit mean of unit rows (persons.py _Person.centre and regroup's track means). */
const centre = (rows) => unit(rows[0].map((_, k) => rows.reduce((s, row) => s + row[k], 0) / rows.length));

export const FALLBACK_SAMPLES = 3; // a track's least-turned faces when none is embeddable
export const FALLBACK_STEP = 0.05; // a new fallback sample must be this much less turned
export const FALLBACK_TRIES = 6; // fallback embeddings computed per track at most

/** How far the face is turned (persons.py yaw_offset): the nose tip's offset from the eyes'
 * midpoint along the eye axis, in eye distances (0: frontal; Infinity without three
 * keypoints or with both eyes on one point). */
export function yawOffset(face) {
  const points = face.keypoints || [];
  if (points.length < 3) return Infinity;
  const [right, left, nose] = points;
  const axis = [left[0] - right[0], left[1] - right[1]];
  const eyes = Math.hypot(axis[0], axis[1]);
  if (eyes < 1e-6) return Infinity;
  const offset = [nose[0] - (right[0] + left[0]) / 2, nose[1] - (right[1] + left[1]) / 2];
  return Math.abs(offset[0] * axis[0] + offset[1] * axis[1]) / eyes ** 2;
}

/** Whether a detected face is worth an embedding sample (persons.py embeddable): score >=
 * MIN_SCORE, box side >= MIN_SIDE px, turned by at most MAX_YAW (yawOffset). */
export function embeddable(face) {
  const [x1, y1, x2, y2] = face.box;
  if (face.score < MIN_SCORE || Math.max(x2 - x1, y2 - y1) < MIN_SIDE) return false;
  return yawOffset(face) <= MAX_YAW;
}

/** Whether a face turned by `yaw` would improve a track's fallback samples. */
function wantsFallback(samples, yaw) {
  if (samples.count || !Number.isFinite(yaw) || samples.fallbackTries >= FALLBACK_TRIES) return false;
  if (samples.fallback.length < FALLBACK_SAMPLES) return true;
  return yaw < samples.fallback[samples.fallback.length - 1][0] - FALLBACK_STEP;
}

const newSamples = () => ({ lastT: null, count: 0, embeddings: [], fallback: [], fallbackTries: 0 });

/** Person labels (0, 1, ...) of embeddings (arrays of numbers): average-linkage clustering
 * stopped at `threshold` (people.py cluster_faces); `apart(i, j)` true keeps two apart.
 * Labels are numbered by cluster size (largest first), then by first member. */
export function clusterFaces(embeddings, threshold, apart = () => false) {
  const n = embeddings.length;
  const dist = Array.from({ length: n }, () => new Float64Array(n).fill(Infinity));
  for (let i = 0; i < n; i += 1) {
    for (let j = i + 1; j < n; j += 1) {
      if (apart(i, j) || apart(j, i)) continue;
      let sum = 0;
      for (let k = 0; k < embeddings[i].length; k += 1) sum += (embeddings[i][k] - embeddings[j][k]) ** 2;
      dist[i][j] = Math.sqrt(sum);
      dist[j][i] = dist[i][j];
    }
  }
  const sizes = new Array(n).fill(1);
  const alive = new Array(n).fill(true);
  const members = Array.from({ length: n }, (_, i) => [i]);
  for (;;) {
    let a = -1;
    let b = -1;
    let best = Infinity;
    for (let i = 0; i < n; i += 1) {
      for (let j = 0; j < n; j += 1) {
        if (dist[i][j] < best) [best, a, b] = [dist[i][j], i, j];
      }
    }
    if (!(best < threshold)) break;
    // Lance-Williams update for average linkage (Infinity, i.e. cannot-link, stays so)
    for (let k = 0; k < n; k += 1) {
      const merged = !alive[k] || k === a ? Infinity
        : (sizes[a] * dist[a][k] + sizes[b] * dist[b][k]) / (sizes[a] + sizes[b]);
      dist[a][k] = merged;
      dist[k][a] = merged;
    }
    for (let k = 0; k < n; k += 1) {
      dist[b][k] = Infinity;
      dist[k][b] = Infinity;
    }
    sizes[a] += sizes[b];
    alive[b] = false;
    members[a].push(...members[b]);
    members[b] = [];
  }
  const clusters = members.filter((m) => m.length).map((m) => m.sort((x, y) => x - y))
    .sort((x, y) => y.length - x.length || x[0] - y[0]);
  const labels = new Array(n);
  clusters.forEach((cluster, label) => { for (const i of cluster) labels[i] = label; });
  return labels;
}

/** Track id -> person id from a few embeddings per track (persons.py PersonRegistry). */
export class PersonRegistry {
  constructor({ threshold, samplesPerTrack = 3, sampleEveryS = 0.3, maxSamples = 24 } = {}) {
    if (!(threshold > 0) || samplesPerTrack < 1) throw new Error("threshold must be > 0 and samplesPerTrack >= 1");
    this.threshold = threshold;
    this.samplesPerTrack = samplesPerTrack;
    this.sampleEveryS = sampleEveryS;
    this.maxSamples = maxSamples;
    this.samples = new Map(); // track id -> {lastT, count, embeddings, fallback, fallbackTries}
    this.seenWith = new Map(); // track id -> Set of tracks seen in the same frame
    this.persons = []; // live assignment: {personId, embeddings, tracks: Set}
    this.personOf = new Map(); // track id -> person id (live)
  }

  /** The live person nearest `vector` within the threshold, never one seen together with
   * the track (persons.py _match). */
  match(trackId, vector) {
    const together = this.seenWith.get(trackId) || new Set();
    let best = null;
    let bestDistance = this.threshold;
    for (const person of this.persons) {
      if ([...person.tracks].some((t) => together.has(t))) continue;
      const mean = centre(person.embeddings);
      let sum = 0;
      for (let k = 0; k < vector.length; k += 1) sum += (mean[k] - vector[k]) ** 2;
      const d = Math.sqrt(sum);
      if (d < bestDistance) [best, bestDistance] = [person, d];
    }
    return best;
  }

  /** Indices of the faces whose track needs an embedding sample at time `t`; a track
   * with no embeddable face asks for fallback samples (its least-turned faces), which only
   * the whole-video regrouping uses (persons.py PersonRegistry). */
  wanted(faces, t) {
    const ids = faces.map((f) => f.track_id).filter((id) => id != null);
    for (const id of ids) {
      if (!this.seenWith.has(id)) this.seenWith.set(id, new Set());
      for (const other of ids) if (other !== id) this.seenWith.get(id).add(other);
    }
    const out = [];
    faces.forEach((face, i) => {
      if (face.track_id == null) return;
      const samples = this.samples.get(face.track_id);
      if (!embeddable(face)) {
        if (!samples || wantsFallback(samples, yawOffset(face))) out.push(i);
      } else if (!samples || samples.lastT === null
        || (samples.count < this.samplesPerTrack && t - samples.lastT >= this.sampleEveryS - 1e-9)) {
        out.push(i);
      }
    });
    return out;
  }

  /** How many embeddings were computed so far (fallback samples included). */
  get sampleCount() {
    let n = 0;
    for (const samples of this.samples.values()) n += samples.count + samples.fallbackTries;
    return n;
  }

  /** Add one embedding of a track's face, sampled at time `t`; `face` (when given and not
   * embeddable) makes it a fallback sample. Returns the track's live person id (null while
   * it has only fallback samples), as persons.py's observe. */
  observe(trackId, embedding, t, face = null) {
    if (!this.samples.has(trackId)) this.samples.set(trackId, newSamples());
    const samples = this.samples.get(trackId);
    const vector = unit(embedding);
    if (face && !embeddable(face)) {
      const yaw = yawOffset(face);
      if (wantsFallback(samples, yaw)) {
        samples.fallback.push([yaw, vector]);
        samples.fallback.sort((a, b) => a[0] - b[0]); // stable, as Python's sort
        samples.fallback.length = Math.min(samples.fallback.length, FALLBACK_SAMPLES);
      }
      samples.fallbackTries += 1;
      return this.personOf.get(trackId) ?? null;
    }
    samples.lastT = t;
    samples.count += 1;
    samples.embeddings.push(vector);
    if (!this.personOf.has(trackId)) { // live assignment (persons.py observe)
      let person = this.match(trackId, vector);
      if (!person) this.persons.push((person = { personId: this.persons.length + 1, embeddings: [], tracks: new Set() }));
      person.tracks.add(trackId);
      this.personOf.set(trackId, person.personId);
    }
    const person = this.persons[this.personOf.get(trackId) - 1];
    person.embeddings.push(vector);
    person.embeddings.splice(0, Math.max(0, person.embeddings.length - this.maxSamples));
    return person.personId;
  }

  /** Track id -> person id (Map) decided on the whole video (persons.py regroup): the
   * tracks' mean embeddings clustered at the threshold; persons numbered by first track. */
  regroup() {
    // a track's embeddings, else its fallback ones (persons.py _vectors)
    const vectors = (samples) => (samples.embeddings.length ? samples.embeddings : samples.fallback.map(([, v]) => v));
    const tracks = [...this.samples.keys()].filter((t) => vectors(this.samples.get(t)).length).sort((a, b) => a - b);
    const means = tracks.map((t) => centre(vectors(this.samples.get(t))));
    const apart = (i, j) => this.seenWith.get(tracks[i])?.has(tracks[j]) ?? false;
    const labels = clusterFaces(means, this.threshold, apart);
    const number = new Map();
    for (const label of labels) if (!number.has(label)) number.set(label, number.size + 1);
    return new Map(tracks.map((t, i) => [t, number.get(labels[i])]));
  }
}

const median = (values) => {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
};
const top = (probs) => Object.keys(probs).reduce((a, b) => (probs[b] > probs[a] ? b : a), Object.keys(probs)[0]);

/** One entry per person from per-track summaries (persons.py summarize_persons): the
 * person's tracks, when seen, median age and interval, probabilities averaged over frames.
 * Tracks never embedded count as persons of their own (person_id null). */
export function summarizePersons(tracks, trackPersons) {
  const groups = new Map();
  for (const track of tracks) {
    const key = trackPersons.has(track.track_id) ? trackPersons.get(track.track_id) : `track ${track.track_id}`;
    if (!groups.has(key)) groups.set(key, []);
    groups.get(key).push(track);
  }
  const first = (members) => Math.min(...members.map((t) => t.first_time));
  return [...groups.entries()].sort((x, y) => first(x[1]) - first(y[1])).map(([key, members]) => {
    const frames = members.reduce((s, t) => s + t.frames, 0);
    const probs = (name) => {
      const total = {};
      for (const t of members) for (const [label, p] of Object.entries(t[name])) total[label] = (total[label] || 0) + p * t.frames;
      return Object.fromEntries(Object.entries(total).map(([k, v]) => [k, v / Math.max(frames, 1)]));
    };
    const gender = probs("gender_probs");
    const race = probs("race_probs");
    // expression shares weighted by the frames of the tracks that have them (persons.py)
    const withShares = members.filter((t) => t.expression_shares);
    const shareFrames = withShares.reduce((s, t) => s + t.frames, 0);
    const shares = {};
    for (const t of withShares) {
      for (const [label, v] of Object.entries(t.expression_shares)) shares[label] = (shares[label] || 0) + v * t.frames;
    }
    for (const label of Object.keys(shares)) shares[label] /= shareFrames;
    return {
      person_id: typeof key === "number" ? key : null,
      tracks: members.map((t) => t.track_id),
      first_time: first(members),
      last_time: Math.max(...members.map((t) => t.last_time)),
      frames,
      age: median(members.map((t) => t.age)),
      age_interval: [0, 1].map((i) => Math.round(median(members.map((t) => t.age_interval[i])))),
      gender: Object.keys(gender).length ? top(gender) : null,
      gender_probs: gender,
      race: Object.keys(race).length ? top(race) : null,
      race_probs: race,
      ...(shareFrames ? { expression_shares: shares } : {}),
    };
  });
}
