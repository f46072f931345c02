// Copy the onnxruntime-web files the page needs (ESM bundles) from node_modules into
// src/faceattrs/web/vendor/: the WebAssembly build and the JSPI build with WebGPU
// (web/inbrowser/runtime.js loads one of them). Run: npm ci && npm run build-web
import { copyFileSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const pkg = join(root, "node_modules", "onnxruntime-web");
const out = join(root, "src", "faceattrs", "web", "vendor");
const FILES = [
  "dist/ort.wasm.bundle.min.mjs", "dist/ort-wasm-simd-threaded.wasm",
  "dist/ort.jspi.bundle.min.mjs", "dist/ort-wasm-simd-threaded.jspi.wasm",
];
// The npm package ships no LICENSE file; its license is the ONNX Runtime repository's.
const LICENSE = `onnxruntime-web VERSION (https://github.com/microsoft/onnxruntime)

MIT License

Copyright (c) Microsoft Corporation

Permission is hereby granted, free of charge, to any person obtaining a copy
of this software and associated documentation files (the "Software"), to deal
in the Software without restriction, including without limitation the rights
to use, copy, modify, merge, publish, distribute, sublicense, and/or sell
copies of the Software, and to permit persons to whom the Software is
furnished to do so, subject to the following conditions:

The above copyright notice and this permission notice shall be included in all
copies or substantial portions of the Software.

THE SOFTWARE IS PROVIDED "AS IS", WITHOUT WARRANTY OF ANY KIND, EXPRESS OR
IMPLIED, INCLUDING BUT NOT LIMITED TO THE WARRANTIES OF MERCHANTABILITY,
FITNESS FOR A PARTICULAR PURPOSE AND NONINFRINGEMENT. IN NO EVENT SHALL THE
AUTHORS OR COPYRIGHT HOLDERS BE LIABLE FOR ANY CLAIM, DAMAGES OR OTHER
LIABILITY, WHETHER IN AN ACTION OF CONTRACT, TORT OR OTHERWISE, ARISING FROM,
OUT OF OR IN CONNECTION WITH THE SOFTWARE OR THE USE OR OTHER DEALINGS IN THE
SOFTWARE.
`;

const { version } = JSON.parse(readFileSync(join(pkg, "package.json"), "utf8"));
mkdirSync(out, { recursive: true });
for (const file of FILES) {
  copyFileSync(join(pkg, file), join(out, file.split("/").pop()));
}
writeFileSync(join(out, "LICENSE-onnxruntime-web"), LICENSE.replace("VERSION", version));
writeFileSync(join(out, "VERSION"), `onnxruntime-web ${version}\n`);
console.log(`copied onnxruntime-web ${version} into ${out}`);
