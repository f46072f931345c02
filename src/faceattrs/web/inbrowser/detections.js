// Faces from one detector's candidates in the page, mirroring
// faceattrs/pipeline/detections.py: greedy NMS, MediaPipe's weighted NMS over candidates of
// several passes, then dropDuplicates for what NMS's IoU test lets through across pyramid
// scales. Candidates are flat arrays {xyxy, scores, keypoints}; faces are
// {xyxy, score, keypoints (flat, 12)}.

export const NUM_KEYPOINTS = 6;
const SPAN_OVERLAP = 0.5; // detections.py drop_duplicates
const NESTED_OVERLAP = 0.8;

export const iou = (a, b) => {
  const w = Math.max(0, Math.min(a[2], b[2]) - Math.max(a[0], b[0]));
  const h = Math.max(0, Math.min(a[3], b[3]) - Math.max(a[1], b[1]));
  const inter = w * h;
  return inter / Math.max((a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter, 1e-9);
};

/** Candidates of several passes {xyxy, scores, keypoints} -> faces after NMS and duplicates. */
export function concatCandidates(parts) {
  return {
    xyxy: parts.flatMap((p) => p.xyxy),
    scores: parts.flatMap((p) => p.scores),
    keypoints: parts.flatMap((p) => p.keypoints),
  };
}

/** Greedy NMS; for each kept box, the indices of the boxes it absorbed (kept one first). */
export function nms(xyxy, scores, iouThreshold) {
  let order = Array.from(scores.keys()).sort((a, b) => scores[b] - scores[a]);
  const area = (i) => (xyxy[4 * i + 2] - xyxy[4 * i]) * (xyxy[4 * i + 3] - xyxy[4 * i + 1]);
  const groups = [];
  while (order.length) {
    const [best, ...rest] = order;
    const group = [best];
    const remaining = [];
    for (const j of rest) {
      const w = Math.max(0, Math.min(xyxy[4 * best + 2], xyxy[4 * j + 2]) - Math.max(xyxy[4 * best], xyxy[4 * j]));
      const h = Math.max(0, Math.min(xyxy[4 * best + 3], xyxy[4 * j + 3]) - Math.max(xyxy[4 * best + 1], xyxy[4 * j + 1]));
      const inter = w * h;
      const iou = inter / Math.max(area(best) + area(j) - inter, 1e-6);
      (iou > iouThreshold ? group : remaining).push(j);
    }
    groups.push(group);
    order = remaining;
  }
  return groups;
}

/** MediaPipe-style weighted NMS over candidates {xyxy, scores, keypoints} (flat arrays). */
export function weightedNms({ xyxy, scores, keypoints }, iouThreshold) {
  const faces = [];
  for (const group of nms(xyxy, scores, iouThreshold)) {
    const box = [0, 0, 0, 0];
    const kps = new Array(2 * NUM_KEYPOINTS).fill(0);
    let total = 0;
    for (const i of group) {
      const w = scores[i];
      total += w;
      for (let k = 0; k < 4; k += 1) box[k] += xyxy[4 * i + k] * w;
      for (let k = 0; k < 2 * NUM_KEYPOINTS; k += 1) kps[k] += keypoints[2 * NUM_KEYPOINTS * i + k] * w;
    }
    faces.push({
      xyxy: box.map((v) => v / total),
      score: scores[group[0]],
      keypoints: kps.map((v) => v / total),
    });
  }
  return faces;
}

/** Duplicates NMS leaves across pyramid scales (detections.py drop_duplicates): boxes holding
 * SPAN_OVERLAP of two or more other boxes, then boxes overlapping a better-scored one by
 * NESTED_OVERLAP of the smaller box. `faces` best score first. */
export function dropDuplicates(faces) {
  const n = faces.length;
  const area = faces.map(({ xyxy: b }) => (b[2] - b[0]) * (b[3] - b[1]));
  const inter = (a, b) => Math.max(0, Math.min(a[2], b[2]) - Math.max(a[0], b[0]))
    * Math.max(0, Math.min(a[3], b[3]) - Math.max(a[1], b[1]));
  const keep = [];
  for (let i = 0; i < n; i += 1) {
    let held = 0;
    for (let j = 0; j < n; j += 1) {
      if (j !== i && inter(faces[i].xyxy, faces[j].xyxy) >= SPAN_OVERLAP * area[j]) held += 1;
    }
    if (held >= 2) continue;
    const nested = keep.some((k) => inter(faces[i].xyxy, faces[k].xyxy) >= NESTED_OVERLAP * Math.min(area[i], area[k]));
    if (!nested) keep.push(i);
  }
  return keep.map((i) => faces[i]);
}
