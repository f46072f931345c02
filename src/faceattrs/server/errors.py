"""Errors the server answers to clients, as ``{"error": code, "detail": detail}``."""


class ApiError(Exception):
    """A client error: answered as ``{"error": code, "detail": detail}`` with ``status``."""

    def __init__(
        self, status: int, code: str, detail: str, headers: dict[str, str] | None = None
    ) -> None:
        super().__init__(detail)
        self.status, self.code, self.detail = status, code, detail
        self.headers = headers  # e.g. Retry-After


def without_paths(text: str, *paths: object, replacement: str = "") -> str:
    """``text`` with each of ``paths`` (server-side files: temp folders, uploads) replaced,
    so that client-visible errors name no file of the server."""
    for path in sorted((str(p) for p in paths if p), key=len, reverse=True):
        text = text.replace(path, replacement)
    return text


def one_line(exc: BaseException) -> str:
    """The first line of an exception's message (or its type's name)."""
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__
