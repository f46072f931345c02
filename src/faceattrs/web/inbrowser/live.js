// The in-browser camera, frame by frame, as faceattrs/video/session.py VideoSession.process
// runs a camera in Python: detect, track, and describe a track's face (attributes) at most
// every `attributesEveryS` seconds (the same rule, the same 0.1 s: consecutive frames hardly
// differ and the smoothing averages the samples); between two descriptions the track keeps
// its smoothed attributes. Detection takes the camera's fast path (detection.js CameraMemory).
// With a face-embedding model (`usePersons`), tracks are joined into persons live as the
// server's camera stream does (persons.js PersonRegistry: a few embeddings per track, never
// every frame), so someone who leaves the view and comes back keeps their person id. The
// embeddings stay in this page's memory.

import { CameraMemory } from "./detection.js";
import { PersonRegistry } from "./persons.js";
import { FaceTracker, Smoothed } from "./tracking.js";

export const ATTRIBUTES_EVERY_S = 0.1; // session.py VideoSession attributes_every_s

export class LiveCamera {
  /** `analyzer`: an InBrowserAnalyzer; `smoothS`: the attributes' smoothing time (seconds). */
  constructor(analyzer, { smoothS = 1.0, attributesEveryS = ATTRIBUTES_EVERY_S } = {}) {
    this.analyzer = analyzer;
    this.smoothS = smoothS;
    this.attributesEveryS = attributesEveryS;
    this.memory = new CameraMemory();
    this.tracker = new FaceTracker({ smoothS: 0 }); // ids; the smoothing is done here
    this.described = new Map(); // track id -> {smoothed: Smoothed, t, face}
    this.embedder = null;
    this.persons = null;
  }

  /** Join tracks into persons with `embedder` (an EmbeddingModel) from the next frame on. */
  usePersons(embedder) {
    this.embedder = embedder;
    this.persons = new PersonRegistry({ threshold: embedder.threshold });
  }

  /** Faces of the next camera frame (an RGBA image taken at `t` seconds) with track ids and
   * smoothed attributes, in the server's JSON schema; `ms` holds the stage times. */
  async frame(image, t) {
    let ids = [];
    const describe = (detections) => {
      // match first (null: a second detection of a tracked face, dropped), then describe
      // the faces whose track needs it
      ids = this.tracker.assign(detections.map((d) => d.xyxy), t);
      return ids.map((id) => {
        if (id === null) return false;
        const last = this.described.get(id);
        return !last || t - last.t >= this.attributesEveryS - 1e-9;
      });
    };
    const result = await this.analyzer.analyze(image, { camera: this.memory, describe });
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
    if (wanted.length) {
      const vectors = await this.embedder.embed(image, wanted.map((i) => faces[i]));
      wanted.forEach((i, n) => this.persons.observe(faces[i].track_id, vectors[n], t, faces[i]));
    }
    const ms = { ...result.ms, persons: performance.now() - started };
    ms.total = (result.ms.total ?? 0) + ms.persons;
    const labelled = faces.map((face) => ({ ...face, person_id: this.persons.personOf.get(face.track_id) ?? null }));
    return { ...result, faces: labelled, ms };
  }
}
