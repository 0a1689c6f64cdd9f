"""A test client for server-sent events: reads a stream on its own thread and hands parsed events over a queue,
so a test can wait for the next event with a timeout (what a browser's EventSource does, minus reconnecting)."""

from __future__ import annotations

import json
import queue
import threading
from dataclasses import dataclass
from typing import Any

import httpx


@dataclass(frozen=True, slots=True)
class SseEvent:
    event: str
    data: str
    id: str | None

    def json(self) -> Any:
        return json.loads(self.data)


class SseStream:
    def __init__(self, url: str, headers: dict[str, str] | None = None, params: dict[str, str] | None = None) -> None:
        self._events: queue.Queue[SseEvent | BaseException] = queue.Queue()
        self._client = httpx.Client(timeout=httpx.Timeout(10.0, read=None))
        self._response = self._client.send(
            self._client.build_request("GET", url, headers=headers, params=params), stream=True
        )
        self.status_code = self._response.status_code
        self.headers = self._response.headers
        self._closed = False
        if self.status_code == 200:
            threading.Thread(target=self._read, daemon=True).start()
        else:
            self.body = self._response.read().decode()

    def _read(self) -> None:
        event, data, last_id = "message", [], None
        try:
            for line in self._response.iter_lines():
                if line == "":
                    if data:
                        self._events.put(SseEvent(event, "\n".join(data), last_id))
                    event, data, last_id = "message", [], None
                elif line.startswith(":"):
                    continue  # keep-alive comment
                else:
                    name, _, value = line.partition(":")
                    value = value[1:] if value.startswith(" ") else value
                    if name == "event":
                        event = value
                    elif name == "data":
                        data.append(value)
                    elif name == "id":
                        last_id = value
        except BaseException as exc:  # the test sees why the stream ended
            if not self._closed:
                self._events.put(exc)

    def next(self, timeout_s: float = 10.0) -> SseEvent:
        try:
            item = self._events.get(timeout=timeout_s)
        except queue.Empty:
            raise AssertionError(f"no server-sent event within {timeout_s} s") from None
        if isinstance(item, BaseException):
            raise AssertionError(f"the stream ended: {item!r}")
        return item

    def next_of(self, *events: str, timeout_s: float = 10.0) -> SseEvent:
        """The next event of one of these types (others are skipped)."""
        while True:
            got = self.next(timeout_s)
            if got.event in events:
                return got

    def nothing_within(self, timeout_s: float) -> bool:
        try:
            item = self._events.get(timeout=timeout_s)
        except queue.Empty:
            return True
        raise AssertionError(f"expected no event, got {item!r}")

    def close(self) -> None:
        self._closed = True
        self._response.close()
        self._client.close()
