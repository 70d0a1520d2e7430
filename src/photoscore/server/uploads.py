"""Uploaded photos from a multipart form: limits on their number and size, and safe display names."""

from __future__ import annotations

from fastapi import HTTPException, UploadFile

from photoscore.server.service import Upload
from photoscore.server.settings import ServerSettings

MAX_NAME_CHARS = 200


def display_name(filename: str | None, index: int) -> str:
    """The upload's file name without folders or control characters, for results and errors only;
    ``photo-<n>`` when it has none. Nothing on the server is ever opened by this name."""
    name = (filename or "").replace("\\", "/").rsplit("/", 1)[-1]
    name = "".join(c for c in name if c.isprintable()).strip()[:MAX_NAME_CHARS]
    return name if name.strip(".") else f"photo-{index + 1}"


async def read_uploads(files: list[UploadFile] | None, settings: ServerSettings) -> list[Upload]:
    """The uploads' names and bytes; HTTPException 400 for none, 413 for too many or too large a file."""
    if not files:
        raise HTTPException(400, "no photos: send them as multipart form files named 'photos'")
    if len(files) > settings.max_photos:
        raise HTTPException(
            413, f"{len(files)} photos, more than the limit of {settings.max_photos} per request"
        )
    names = [display_name(f.filename, i) for i, f in enumerate(files)]
    for name, file in zip(names, files, strict=True):
        if (file.size or 0) > settings.max_file_bytes:
            raise HTTPException(
                413,
                f"{name}: {file.size:,} bytes, larger than the limit of {settings.max_file_bytes:,} per photo",
            )
    return [Upload(name, await file.read()) for name, file in zip(names, files, strict=True)]
