"""The ``attributes`` option of the server's image requests, camera streams and video
jobs: which heads run for that request (one analyzer serves them all; nothing is reloaded).
"""

from collections.abc import Callable
from typing import Any

from faceattrs.server.errors import ApiError

ATTRIBUTES_HELP = (
    "comma-separated heads to run, from age, gender, race, expression (default: all the "
    "server has); age, gender and race come from one model, which runs when any of them is "
    "asked for; attributes not asked for are left out of the faces. Unknown names: 422."
)
ATTRIBUTES_EXAMPLE = "age,gender"


def requested_attributes(analyzer: Any, text: str | None) -> tuple[str, ...] | None:
    """The heads a client asked for, in canonical order (None: not given, all of them);
    ApiError 422 ``invalid_attributes`` for unknown names or heads this server lacks."""
    if text is None:
        return None
    from faceattrs.spec import ATTRIBUTES, parse_attributes

    try:
        wanted = parse_attributes(text)
    except ValueError as exc:
        raise ApiError(422, "invalid_attributes", f"attributes: {exc}") from None
    available = tuple(getattr(analyzer, "attributes", ATTRIBUTES))
    missing = [name for name in wanted if name not in available]
    if missing:
        raise ApiError(
            422,
            "invalid_attributes",
            f"attributes: {', '.join(missing)} not available on this server "
            f"(it has {', '.join(available)})",
        )
    return wanted


def with_attributes(step: Callable, attributes: tuple[str, ...] | None) -> Callable:
    """``step`` (an analyzer method) that runs only the ``attributes`` heads (None: as is,
    so that analyzers without the option still serve requests that do not use it)."""
    if attributes is None:
        return step
    return lambda *args: step(*args, attributes=attributes)
