// The in-browser camera, frame by frame, as faceattrs/video/session.py VideoSession.process
// runs a camera in Python: detect, track, and describe a track's face (attributes) at most
// every `attributesEveryS` seconds (the same rule, the same 0.1 s: consecutive frames hardly
// differ and the smoothing averages the samples); between two descriptions the track keeps
// its smoothed attributes. Detection takes the camera's fast path (camera_memory.js).
// With a HeadsWorker (the page's camera), a known track's new description is computed in a
// worker while the page detects the next frame (the camera's one difference from session.py:
// it joins the track's smoothing at its frame's time, and shows from the next frame on); a
// new track is described at once, so every face comes with its attributes. Without one, or
// when it fails, every description is made here, as before.
// With a face-embedding model (`usePersons`), tracks are joined into persons live as the
// server's camera stream does (persons.js PersonRegistry: a few embeddings per track, never
// every frame), so someone who leaves the view and comes back keeps their person id. The
// embeddings stay in this page's memory. With the HeadsWorker's embedder (the page's camera)
// they are computed in the worker and observed when they come back, a frame or two later.

import { CameraMemory } from "./camera_memory.js";
import { PersonRegistry } from "./persons.js";
import { BACKEND } from "./runtime.js";
import { FaceTracker, Smoothed } from "./tracking.js";

export const ATTRIBUTES_EVERY_S = 0.1; // session.py VideoSession attributes_every_s

/** The plain copy of an RGBA image a message carries (the page may still use the image). */
const imageMessage = ({ width, height, data }) => ({ width, height, data });

/** The attribute and expression heads in a worker (heads_worker.js): `predict(image,
 * keypoints)` (an RGBA image and each face's flat keypoints) resolves with {attributes,
 * expressions}, one per face, as the page's own alignment and heads give them. */
export class HeadsWorker {
  /** A started worker whose models are loaded (rejects when they cannot be). */
  static async start(url = new URL(`./heads_worker.js?backend=${BACKEND}`, import.meta.url)) {
    const heads = new HeadsWorker(new Worker(url, { type: "module" }));
    try {
      await heads.ready;
    } catch (error) {
      heads.terminate();
      throw error;
    }
    return heads;
  }

  constructor(worker) {
    this.worker = worker;
    this.pending = new Map(); // id -> {resolve, reject}
    this.failed = null;
    this.next = 0;
    let settle;
    this.ready = new Promise((resolve, reject) => { settle = { resolve, reject }; });
    const fail = (error) => {
      this.failed = error; // later questions are refused at once, not left waiting
      settle.reject(error);
      for (const job of this.pending.values()) job.reject(error);
      this.pending.clear();
    };
    worker.onmessage = ({ data }) => {
      if ("ready" in data) {
        this.backend = data.backend; // the worker's runtime build (runtime.js)
        if (data.ready) settle.resolve();
        else fail(new Error(data.error));
        return;
      }
      const job = this.pending.get(data.id);
      this.pending.delete(data.id);
      if (data.error) job?.reject(new Error(data.error));
      else job?.resolve(data);
    };
    worker.onerror = (event) => fail(new Error(event.message || "the heads worker failed"));
  }

  /** Post `message` with a new id; resolves with the worker's answer. */
  ask(message) {
    if (this.failed) return Promise.reject(this.failed);
    const id = this.next;
    this.next += 1;
    return new Promise((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      this.worker.postMessage({ id, ...message });
    });
  }

  predict(image, keypoints) {
    return this.ask({ image: imageMessage(image), keypoints });
  }

  /** The embedding model, loaded in the worker: {threshold, aside: true, embed(image, faces)}
   * (each face with `keypoints`) resolving with the L2-normalised embeddings, as
   * embedding.js EmbeddingModel gives them. */
  async embedder() {
    const { threshold } = await this.ask({ embedder: true });
    const embed = async (image, faces) => {
      const keypoints = faces.map((face) => face.keypoints);
      return (await this.ask({ embed: true, image: imageMessage(image), keypoints })).embeddings;
    };
    return { threshold, aside: true, embed };
  }

  terminate() {
    this.worker.terminate();
  }
}

export class LiveCamera {
  /** `analyzer`: an InBrowserAnalyzer; `smoothS`: the attributes' smoothing time (seconds);
   * `heads`: a HeadsWorker for known tracks' descriptions (null: all made here). */
  constructor(analyzer, { smoothS = 1.0, attributesEveryS = ATTRIBUTES_EVERY_S, heads = null } = {}) {
    this.analyzer = analyzer;
    this.heads = heads;
    this.aside = false; // a description in the worker, not back yet
    this.embedding = false; // embeddings in the worker, not back yet
    this.smoothS = smoothS;
    this.attributesEveryS = attributesEveryS;
    this.memory = new CameraMemory();
    this.tracker = new FaceTracker({ smoothS: 0 }); // ids; the smoothing is done here
    this.described = new Map(); // track id -> {smoothed: Smoothed, t, face}
    this.embedder = null;
    this.persons = null;
  }

  /** Join tracks into persons with `embedder` (an EmbeddingModel, or a HeadsWorker's
   * embedder()) from the next frame on. */
  usePersons(embedder) {
    this.embedder = embedder;
    this.persons = new PersonRegistry({ threshold: embedder.threshold });
  }

  /** Faces of the next camera frame (an RGBA image taken at `t` seconds) with track ids and
   * smoothed attributes, in the server's JSON schema; `ms` holds the stage times. */
  async frame(image, t) {
    let ids = [];
    const aside = []; // known tracks' faces described in the worker
    const describe = (detections) => {
      // match first (null: a second detection of a tracked face, dropped), then describe
      // the faces whose track needs it
      ids = this.tracker.assign(detections.map((d) => d.xyxy), t);
      return ids.map((id, i) => {
        if (id === null) return false;
        const last = this.described.get(id);
        if (last && t - last.t < this.attributesEveryS - 1e-9) return false;
        if (!last || !this.heads) return true;
        if (!this.aside) aside.push(i); // else due again at the next frame
        return false;
      });
    };
    const result = await this.analyzer.analyze(image, { camera: this.memory, describe });
    if (aside.length) this.describeAside(image, aside.map((i) => [result.faces[i], ids[i]]), t);
    const live = new Set(this.tracker.live.map((track) => track.record?.track_id).filter((id) => id != null));
    for (const id of this.described.keys()) if (!live.has(id)) this.described.delete(id);
    const kept = ids.flatMap((id, i) => (id === null ? [] : [[result.faces[i], id]]));
    const faces = kept.map(([face, id]) => {
      let track = this.described.get(id);
      if (face.age != null) {
        if (!track) this.described.set(id, (track = { smoothed: new Smoothed() }));
        track.t = t;
        track.face = track.smoothed.add(face, t, this.smoothS);
        return { ...track.face, track_id: id };
      }
      return { ...track.face, box: face.box, score: face.score, keypoints: face.keypoints, track_id: id };
    });
    if (!this.persons) return { ...result, faces };
    const started = performance.now();
    const wanted = this.persons.wanted(faces, t);
    if (wanted.length && this.embedder.aside) {
      if (!this.embedding) this.embedAside(image, wanted.map((i) => faces[i]), t); // else later
    } else if (wanted.length) {
      const vectors = await this.embedder.embed(image, wanted.map((i) => faces[i]));
      wanted.forEach((i, n) => this.persons.observe(faces[i].track_id, vectors[n], t, faces[i]));
    }
    const ms = { ...result.ms, persons: performance.now() - started };
    ms.total = (result.ms.total ?? 0) + ms.persons;
    const labelled = faces.map((face) => ({ ...face, person_id: this.persons.personOf.get(face.track_id) ?? null }));
    return { ...result, faces: labelled, ms };
  }

  /** Embed `faces` (of the frame at `t`) in the worker; each embedding is observed at `t`
   * when it comes back (the track's live person id shows from then on). If the worker
   * fails, the camera stops joining persons. */
  embedAside(image, faces, t) {
    const persons = this.persons;
    this.embedding = true;
    this.embedder.embed(image, faces)
      .then((vectors) => faces.forEach((face, n) => persons.observe(face.track_id, vectors[n], t, face)))
      .catch((error) => {
        console.warn(`camera: persons not identified any more (${error.message || error})`);
        if (this.persons === persons) this.persons = null;
      })
      .finally(() => { this.embedding = false; });
  }

  /** Describe `faces` ([face, track id] of the frame at `t`) in the worker; each result joins
   * its track's smoothing at `t` when it comes back. If the worker fails, the camera goes on
   * describing here. */
  describeAside(image, faces, t) {
    for (const [, id] of faces) this.described.get(id).t = t;
    this.aside = true;
    this.heads.predict(image, faces.map(([face]) => face.keypoints.flat()))
      .then(({ attributes, expressions }) => faces.forEach(([face, id], n) => {
        const track = this.described.get(id);
        if (track) track.face = track.smoothed.add({ ...face, ...attributes[n], ...expressions[n] }, t, this.smoothS);
      }))
      .catch((error) => {
        console.warn(`camera: describing here from now on (${error.message || error})`);
        this.heads = null;
      })
      .finally(() => { this.aside = false; });
  }
}
