"""Parent side of the Ultralytics peer leg: one long-lived worker in the training venv, driven over stdin/stdout."""

from __future__ import annotations

import json
import queue
import subprocess
import tempfile
import threading
from pathlib import Path

WORKER = Path(__file__).with_name("ultralytics_worker.py")
MARK = "ultralytics_worker"


class PeerError(RuntimeError):
    """The Ultralytics worker could not start or answer; the message carries the tail of its log."""


class UltralyticsPeer:
    def __init__(self, python: Path, model: Path, video: Path, imgsz: int = 640) -> None:
        if not python.is_file():
            raise PeerError(
                f"{python}: no training venv; create it (see docs/benchmarks.md, Edge pipeline) or pass --no-peer"
            )
        # Kept open for the worker's whole life (it is its stderr); closed and removed in close().
        self._log = tempfile.NamedTemporaryFile(prefix="ultralytics-worker-", suffix=".log", delete=False)  # noqa: SIM115
        self.log_path = Path(self._log.name)
        self._proc = subprocess.Popen(
            [str(python), str(WORKER), "--model", str(model), "--video", str(video), "--imgsz", str(imgsz)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self._log,
            text=True,
        )
        self._lines: queue.Queue[dict | None] = queue.Queue()
        threading.Thread(target=self._read, name="ultralytics-stdout", daemon=True).start()
        self.version = ""

    def wait_ready(self, timeout_s: float) -> None:
        answer = self._answer(timeout_s)
        if not answer.get("ready"):
            raise PeerError(f"Ultralytics worker failed to start: {answer.get('error')}{self._log_tail()}")
        self.version = str(answer.get("ultralytics", ""))

    def run(self, seconds: float) -> tuple[int, float]:
        """Frames its track loop yields in `seconds`; (frames, elapsed seconds)."""
        assert self._proc.stdin is not None
        self._proc.stdin.write(f"run {seconds}\n")
        self._proc.stdin.flush()
        answer = self._answer(seconds + 120.0)
        if "frames" not in answer:
            raise PeerError(f"Ultralytics worker: {answer.get('error')}{self._log_tail()}")
        return int(answer["frames"]), float(answer["seconds"])

    def close(self) -> None:
        if self._proc.poll() is None:
            try:
                assert self._proc.stdin is not None
                self._proc.stdin.write("quit\n")
                self._proc.stdin.close()
                self._proc.wait(10)
            except (OSError, subprocess.TimeoutExpired):
                self._proc.kill()
                self._proc.wait()
        self._log.close()
        self.log_path.unlink(missing_ok=True)

    def _answer(self, timeout_s: float) -> dict:
        try:
            answer = self._lines.get(timeout=timeout_s)
        except queue.Empty:
            raise PeerError(f"Ultralytics worker gave no answer in {timeout_s:.0f} s{self._log_tail()}") from None
        if answer is None:
            raise PeerError(f"Ultralytics worker exited (code {self._proc.wait()}){self._log_tail()}")
        return answer

    def _read(self) -> None:
        assert self._proc.stdout is not None
        for line in self._proc.stdout:
            try:
                message = json.loads(line)
            except json.JSONDecodeError:
                continue  # ultralytics' own chatter on stdout
            if isinstance(message, dict) and message.get(MARK):
                self._lines.put(message)
        self._lines.put(None)

    def _log_tail(self) -> str:
        self._log.flush()
        text = self.log_path.read_text(errors="replace").strip()
        return f"\n--- worker log (tail) ---\n{text[-2000:]}" if text else ""
