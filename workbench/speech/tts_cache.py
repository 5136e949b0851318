"""A content-addressed cache of synthesised audio: in memory (bounded LRU) and on disk.

The key is a SHA-256 over everything that changes the audio: backend, voice, rate, pitch, the
output format and the text as it will be spoken (after the lexicon and number reading). A hit
returns exactly the bytes that were stored. Disk entries live under `cache_dir("tts")` as
`<first two hex digits>/<key>.bin`, written atomically so a crash never leaves half a file.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import tempfile
import threading
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path

from workbench.paths import cache_dir

logger = logging.getLogger(__name__)

KEY_VERSION = 1  # bump when the audio pipeline changes so old entries stop matching
DEFAULT_MEMORY_BYTES = 64 * 1024 * 1024


@dataclass
class CacheStats:
    """Lookups so far; `memory_hits + disk_hits == hits`."""

    hits: int = 0
    misses: int = 0
    memory_hits: int = 0
    disk_hits: int = 0
    stores: int = 0


def cache_key(
    *,
    backend: str,
    voice: str,
    rate_wpm: int | None,
    pitch: int | None,
    text: str,
    audio_format: str,
) -> str:
    """The hex digest naming one piece of audio."""
    fields = {
        "version": KEY_VERSION,
        "backend": backend,
        "voice": voice,
        "rate_wpm": rate_wpm,
        "pitch": pitch,
        "format": audio_format,
        "text": text,
    }
    return hashlib.sha256(json.dumps(fields, sort_keys=True).encode("utf-8")).hexdigest()


class TTSCache:
    """Bytes by key, kept in memory up to `memory_bytes` (least recently used evicted first) and,
    unless `directory` is False, on disk (default: `cache_dir("tts")`). Thread-safe."""

    def __init__(
        self,
        directory: str | Path | None | bool = None,
        *,
        memory_bytes: int = DEFAULT_MEMORY_BYTES,
    ) -> None:
        if directory is False:
            self.directory: Path | None = None
        elif directory is None or directory is True:
            self.directory = cache_dir("tts")
        else:
            self.directory = Path(directory)
            self.directory.mkdir(parents=True, exist_ok=True)
        self.memory_bytes = memory_bytes
        self.stats = CacheStats()
        self._memory: OrderedDict[str, bytes] = OrderedDict()
        self._memory_size = 0
        self._lock = threading.Lock()

    def _path(self, key: str) -> Path:
        assert self.directory is not None
        return self.directory / key[:2] / f"{key}.bin"

    def get(self, key: str) -> bytes | None:
        """The stored bytes, or None (a miss); counts the lookup."""
        with self._lock:
            data = self._memory.get(key)
            if data is not None:
                self._memory.move_to_end(key)
                self.stats.hits += 1
                self.stats.memory_hits += 1
                return data
        data = self._read_disk(key)
        with self._lock:
            if data is None:
                self.stats.misses += 1
                return None
            self.stats.hits += 1
            self.stats.disk_hits += 1
            self._remember(key, data)
            return data

    def put(self, key: str, data: bytes) -> None:
        """Store bytes in memory and on disk (a failed disk write is logged, not raised)."""
        data = bytes(data)
        with self._lock:
            self.stats.stores += 1
            self._remember(key, data)
        self._write_disk(key, data)

    def __contains__(self, key: str) -> bool:
        """Whether the key is stored (does not count as a lookup)."""
        with self._lock:
            if key in self._memory:
                return True
        return self.directory is not None and self._path(key).is_file()

    def clear_memory(self) -> None:
        with self._lock:
            self._memory.clear()
            self._memory_size = 0

    def _remember(self, key: str, data: bytes) -> None:
        if len(data) > self.memory_bytes:
            return
        old = self._memory.pop(key, None)
        if old is not None:
            self._memory_size -= len(old)
        self._memory[key] = data
        self._memory_size += len(data)
        while self._memory_size > self.memory_bytes:
            _, evicted = self._memory.popitem(last=False)
            self._memory_size -= len(evicted)

    def _read_disk(self, key: str) -> bytes | None:
        if self.directory is None:
            return None
        try:
            return self._path(key).read_bytes()
        except FileNotFoundError:
            return None
        except OSError as error:
            logger.warning("TTS cache: cannot read %s (%s)", self._path(key), error)
            return None

    def _write_disk(self, key: str, data: bytes) -> None:
        if self.directory is None:
            return
        path = self._path(key)
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            fd, temp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-", suffix=".bin")
            try:
                with os.fdopen(fd, "wb") as file:
                    file.write(data)
                os.replace(temp, path)
            except BaseException:
                Path(temp).unlink(missing_ok=True)
                raise
        except OSError as error:
            logger.warning("TTS cache: cannot write %s (%s)", path, error)
