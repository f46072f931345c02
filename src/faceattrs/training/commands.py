"""``faceattrs train/evaluate/export`` subcommands (torch is imported lazily)."""

from __future__ import annotations

import argparse


def register(sub: argparse._SubParsersAction) -> None:
    del sub
