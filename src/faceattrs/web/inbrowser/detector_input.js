// The detector's input in the page, mirroring faceattrs/pipeline/detector_input.py:
// resizing as OpenCV does it (exact 2x area halvings, then one fixed-point bilinear step),
// padding into a black canvas, a black border, crops, the 32 px grid, Python's round() and
// the clamped sigmoid of the raw scores. FaceDetector (detection.js) builds its inputs here.
// Images are plain {data, width, height} RGBA objects (ImageData-like).

const RAW_SCORE_LIMIT = 80.0;

/** Python's round(): halves to even. */
export function roundHalfEven(x) {
  const r = Math.round(x);
  return Math.abs(x % 1) === 0.5 && r % 2 !== 0 ? r - 1 : r;
}

export const ceil32 = (value) => Math.max(32, Math.ceil(value / 32) * 32);

/** Exact 2x area halving of an RGBA image, as cv2.INTER_AREA does it ((a+b+c+d+2)>>2). */
export function halve(image) {
  const w = Math.floor(image.width / 2);
  const h = Math.floor(image.height / 2);
  const src = image.data;
  const stride = image.width * 4;
  const data = new Uint8ClampedArray(w * h * 4);
  for (let y = 0; y < h; y += 1) {
    let a = 2 * y * stride; // top-left source pixel of the 2x2 block
    let b = a + stride;
    let d = y * w * 4;
    for (let x = 0; x < w; x += 1, a += 8, b += 8, d += 4) {
      data[d] = (src[a] + src[a + 4] + src[b] + src[b + 4] + 2) >> 2;
      data[d + 1] = (src[a + 1] + src[a + 5] + src[b + 1] + src[b + 5] + 2) >> 2;
      data[d + 2] = (src[a + 2] + src[a + 6] + src[b + 2] + src[b + 6] + 2) >> 2;
      data[d + 3] = 255;
    }
  }
  return { data, width: w, height: h };
}

/** Source index and 11-bit fixed-point weight per output position (cv2 INTER_LINEAR). */
function linearTaps(srcSize, dstSize) {
  const scale = srcSize / dstSize;
  const index = new Int32Array(dstSize);
  const weight = new Int32Array(dstSize);
  for (let d = 0; d < dstSize; d += 1) {
    let f = (d + 0.5) * scale - 0.5;
    let s = Math.floor(f);
    f -= s;
    if (s < 0) { f = 0; s = 0; }
    if (s >= srcSize - 1) { f = 0; s = srcSize - 1; }
    index[d] = s;
    weight[d] = Math.round(f * 2048);
  }
  return { index, weight };
}

/** Bilinear resize of an RGBA image with OpenCV's fixed-point arithmetic (uint8). */
export function resizeLinear(image, width, height) {
  const src = image.data;
  const sw = image.width;
  const xs = linearTaps(sw, width);
  const ys = linearTaps(image.height, height);
  const rows = new Int32Array(width * 3 * 2);
  const data = new Uint8ClampedArray(width * height * 4);
  const horizontal = (sy, offset) => {
    const base = sy * sw * 4;
    for (let x = 0; x < width; x += 1) {
      const s0 = xs.index[x];
      const s1 = Math.min(s0 + 1, sw - 1);
      const a1 = xs.weight[x];
      const a0 = 2048 - a1;
      for (let c = 0; c < 3; c += 1) {
        rows[offset + 3 * x + c] = src[base + 4 * s0 + c] * a0 + src[base + 4 * s1 + c] * a1;
      }
    }
  };
  for (let y = 0; y < height; y += 1) {
    const s0 = ys.index[y];
    const s1 = Math.min(s0 + 1, image.height - 1);
    const b1 = ys.weight[y];
    const b0 = 2048 - b1;
    horizontal(s0, 0);
    horizontal(s1, width * 3);
    for (let x = 0; x < width; x += 1) {
      const d = (y * width + x) * 4;
      for (let c = 0; c < 3; c += 1) {
        const r0 = rows[3 * x + c];
        const r1 = rows[width * 3 + 3 * x + c];
        data[d + c] = (((b0 * (r0 >> 4)) >> 16) + ((b1 * (r1 >> 4)) >> 16) + 2) >> 2;
      }
      data[d + 3] = 255;
    }
  }
  return { data, width, height };
}

/** Resize down like detection.downscale: exact 2x halvings, then one linear step. */
export function downscale(image, width, height) {
  let out = image;
  while (out.width >= 2 * width && out.height >= 2 * height) out = halve(out);
  if (out.width === width && out.height === height) return out;
  return resizeLinear(out, width, height);
}

/** The region (x0, y0, w, h) of an image at (dx, dy) in a zero (black) canvas of padW x padH. */
export function padded(image, x0, y0, w, h, padW, padH, dx = 0, dy = 0) {
  return { image, x0, y0, w: Math.min(w, image.width - x0), h: Math.min(h, image.height - y0), padW, padH, dx, dy };
}

/** An RGBA image with a black border of `margin` px all around (np.pad with zeros). */
export function bordered(image, margin) {
  const width = image.width + 2 * margin;
  const data = new Uint8ClampedArray(width * (image.height + 2 * margin) * 4);
  for (let y = 0; y < image.height; y += 1) {
    const row = image.data.subarray(y * image.width * 4, (y + 1) * image.width * 4);
    data.set(row, ((y + margin) * width + margin) * 4);
  }
  return { data, width, height: image.height + 2 * margin };
}

/** The pixels (x0, y0)-(x1, y1) of an RGBA image, as a new image. */
export function crop(image, x0, y0, x1, y1) {
  const width = x1 - x0;
  const data = new Uint8ClampedArray(width * (y1 - y0) * 4);
  for (let y = y0; y < y1; y += 1) {
    data.set(image.data.subarray((y * image.width + x0) * 4, (y * image.width + x1) * 4), (y - y0) * width * 4);
  }
  return { data, width, height: y1 - y0 };
}

export const sigmoid = (logit) => 1.0 / (1.0 + Math.exp(-Math.min(Math.max(logit, -RAW_SCORE_LIMIT), RAW_SCORE_LIMIT)));
