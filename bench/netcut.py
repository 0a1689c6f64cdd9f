"""A TCP relay between devices and the broker that can be cut: the edge's uplink (mobile modem, site router) going
away while broker and hub stay up. Devices connect to `relay.port` instead of the broker's.

`cut()` resets every relayed connection and refuses new ones (accepted and closed at once, as a router with no
upstream answers) until `restore()`. A silent black hole (packets dropped, found out only by keepalive) is not
modelled: both ends would learn of it later, but what they do then is the same reconnect and replay."""

from __future__ import annotations

import contextlib
import socket
import threading

BUFFER = 64 * 1024


class NetworkCut:
    def __init__(self, target_host: str, target_port: int, host: str = "127.0.0.1") -> None:
        self.target = (target_host, target_port)
        self._server = socket.create_server((host, 0))
        self.host, self.port = host, self._server.getsockname()[1]
        self._lock = threading.Lock()
        self._sockets: set[socket.socket] = set()
        self._is_cut = False
        self._closed = False
        self.cuts = 0
        threading.Thread(target=self._accept_loop, name="netcut-accept", daemon=True).start()

    @property
    def is_cut(self) -> bool:
        return self._is_cut

    def cut(self) -> None:
        with self._lock:
            self._is_cut = True
            self.cuts += 1
            doomed, self._sockets = self._sockets, set()
        for sock in doomed:
            _drop(sock)

    def restore(self) -> None:
        with self._lock:
            self._is_cut = False

    def close(self) -> None:
        self._closed = True
        self.cut()
        self._server.close()

    def _accept_loop(self) -> None:
        while not self._closed:
            try:
                down, _ = self._server.accept()
            except OSError:
                return  # closed
            if self._is_cut:
                _drop(down)
                continue
            try:
                up = socket.create_connection(self.target, timeout=5)
            except OSError:
                _drop(down)  # the broker itself is away: the device sees a refused link, as it would
                continue
            up.settimeout(None)
            with self._lock:
                if self._is_cut:
                    _drop(down)
                    _drop(up)
                    continue
                self._sockets |= {down, up}
            for src, dst in ((down, up), (up, down)):
                threading.Thread(target=self._pump, args=(src, dst), name="netcut-pump", daemon=True).start()

    def _pump(self, src: socket.socket, dst: socket.socket) -> None:
        try:
            while data := src.recv(BUFFER):
                dst.sendall(data)
        except OSError:
            pass  # cut, or the other side went away
        finally:
            with self._lock:
                self._sockets -= {src, dst}
            _drop(src)
            _drop(dst)


def _drop(sock: socket.socket) -> None:
    with contextlib.suppress(OSError):
        sock.shutdown(socket.SHUT_RDWR)  # wakes the pump blocked in recv on this socket
    with contextlib.suppress(OSError):
        sock.close()
