"""The bytes an upload reads: a small file in memory, or a seekable file read in chunks."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import IO, Final

import anyio.to_thread

CHUNK: Final = 64 * 1024


class BytesSource:
    """A small file already in memory."""

    def __init__(self, data: bytes) -> None:
        self.data = data

    def __repr__(self) -> str:
        return f"BytesSource({len(self.data)} bytes)"

    @property
    def size(self) -> int:
        return len(self.data)

    async def chunks(self) -> AsyncIterator[bytes]:
        for start in range(0, len(self.data), CHUNK):
            yield self.data[start : start + CHUNK]


class FileObjectSource:
    """A seekable binary file (a spooled temporary file, a file on disk) of ``size`` bytes,
    read from its start in chunks, off the event loop."""

    def __init__(self, file: IO[bytes], size: int) -> None:
        self.file = file
        self._size = size

    def __repr__(self) -> str:
        return f"FileObjectSource({self._size} bytes)"

    @property
    def size(self) -> int:
        return self._size

    async def chunks(self) -> AsyncIterator[bytes]:
        await anyio.to_thread.run_sync(self.file.seek, 0)
        left = self._size
        while left > 0:
            chunk = await anyio.to_thread.run_sync(self.file.read, min(CHUNK, left))
            if not chunk:
                raise OSError(f"the file ended {left} bytes early")
            left -= len(chunk)
            yield chunk
