"""``faceattrs export-web``: the page as a static site that runs the models in the browser."""

from __future__ import annotations

import argparse

from faceattrs.server.site import export_web


def register(sub: argparse._SubParsersAction) -> None:
    """Add ``faceattrs export-web``."""
    parser = sub.add_parser(
        "export-web",
        help="write the web page as a static site that analyses in the browser",
        description=(
            "Write a static site (page, in-browser pipeline, onnxruntime-web, models) to OUT. "
            "Serve it from any static host, e.g. python -m http.server -d OUT; images, videos "
            "and the camera are analysed inside the browser and nothing is uploaded."
        ),
    )
    parser.add_argument("out", metavar="OUT", help="folder to write (new or empty)")
    parser.add_argument(
        "--model", metavar="ONNX", help="attribute model (default: the packaged float model)"
    )
    parser.add_argument(
        "--force", action="store_true", help="write into a non-empty OUT (its other files are kept)"
    )
    parser.set_defaults(func=_export)


def _export(args: argparse.Namespace) -> int:
    written = export_web(args.out, model_path=args.model, force=args.force)
    size = sum(p.stat().st_size for p in written)
    print(f"faceattrs: wrote {len(written)} files ({size / 2**20:.1f} MB) to {args.out}")
    print(f"serve it with: python -m http.server --bind 127.0.0.1 -d {args.out} 8080")
    print(
        "(one WebAssembly thread there; for several, serve it with the headers in "
        f"{args.out}/_headers: Cross-Origin-Opener-Policy and Cross-Origin-Embedder-Policy)"
    )
    return 0
