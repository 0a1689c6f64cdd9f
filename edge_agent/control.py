"""Hub-to-device control: commands (`cmd` -> `cmd_result`) and the retained desired configuration (`config`).

Commands run on `executor` when one is given (the agent passes a one-thread pool), so a snapshot upload or a model
download never blocks the MQTT network thread that delivered the command. A `config` payload goes to
`apply_config`, which validates all of it and applies it or raises; a refused config leaves the running rules in
place, is logged like a failed cmd_result and is shown in health (`config_error`) until a good one arrives.
Either outcome calls `on_config_change` (the agent publishes a health snapshot at once), so whoever pushed the
configuration sees the applied version or the refusal within a second instead of at the next health interval.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from concurrent.futures import Executor

from pydantic import ValidationError

from cityops.contract.messages import Ack, Command, CommandResult, DeviceConfig, dump
from cityops.contract.topics import Topic
from edge_agent.comms.link import Link
from edge_agent.comms.outbox import Outbox

log = logging.getLogger(__name__)

CommandHandler = Callable[[Command], str]
"""Takes the command, returns a detail for the result; raises to report ok=false (the message is the detail)."""

ConfigApplier = Callable[[bytes], int]
"""Validates and applies a `config` payload, returns its version; raises (ConfigError) to refuse it."""


def ping(_cmd: Command) -> str:
    return "pong"


class Controller:
    def __init__(
        self,
        link: Link,
        outbox: Outbox,
        on_ack: Callable[[int], None],
        handlers: dict[str, CommandHandler] | None = None,
        apply_config: ConfigApplier | None = None,
        executor: Executor | None = None,
        on_config_change: Callable[[], None] | None = None,
    ) -> None:
        self.link = link
        self.outbox = outbox  # the applied config version lives in the outbox's meta table: one durable store
        self.on_ack = on_ack
        self.handlers: dict[str, CommandHandler] = {"ping": ping, **(handlers or {})}
        self.apply_config = apply_config
        self.executor = executor
        self.on_config_change = on_config_change
        stored = outbox.get_meta("config_version")
        self.config_version: int | None = int(stored) if stored is not None else None
        self.config_error: str | None = None
        self._applied_here: int | None = None  # the version applied by this process (a restart must re-apply)

    def on_message(self, suffix: Topic, payload: bytes) -> None:
        if suffix is Topic.ACK:
            self._ack(payload)
        elif suffix is Topic.CMD:
            self._command(payload)
        elif suffix is Topic.CONFIG:
            self._config(payload)

    def _ack(self, payload: bytes) -> None:
        try:
            ack = Ack.model_validate_json(payload)
        except ValidationError as exc:
            log.error("ignoring malformed ack %r: %s", payload[:200], _first_error(exc))
            return
        self.on_ack(ack.acked_seq)

    def _command(self, payload: bytes) -> None:
        try:
            cmd = Command.model_validate_json(payload)
        except ValidationError as exc:
            # Without a readable cmd_id there is nothing to answer; say so in the log.
            cmd_id = _cmd_id(payload)
            log.error("malformed command %r: %s", payload[:200], _first_error(exc))
            if cmd_id:
                self._reply(CommandResult(cmd_id=cmd_id, ok=False, detail=f"malformed command: {_first_error(exc)}"))
            return
        if self.executor is not None:
            self.executor.submit(self._run_command, cmd)
        else:
            self._run_command(cmd)

    def _run_command(self, cmd: Command) -> None:
        handler = self.handlers.get(cmd.name)
        if handler is None:
            supported = ", ".join(sorted(self.handlers))
            result = CommandResult(
                cmd_id=cmd.cmd_id, ok=False, detail=f"unknown command {cmd.name!r}; this agent supports: {supported}"
            )
        else:
            try:
                result = CommandResult(cmd_id=cmd.cmd_id, ok=True, detail=handler(cmd))
            except Exception as exc:
                log.exception("command %s failed", cmd.name)
                result = CommandResult(cmd_id=cmd.cmd_id, ok=False, detail=f"{cmd.name} failed: {exc}")
        self._reply(result)

    def _reply(self, result: CommandResult) -> None:
        if not self.link.publish(Topic.CMD_RESULT, dump(result), qos=1):
            log.warning("cmd_result %s not sent: link down", result.cmd_id)

    def _config(self, payload: bytes) -> None:
        if not payload:
            return  # a retained message being cleared
        try:
            config = DeviceConfig.model_validate_json(payload)
        except ValidationError as exc:
            self._refuse(f"malformed: {_first_error(exc)}")
            return
        if self.apply_config is None:
            if config.version != self.config_version:
                self.outbox.set_meta("config_version", str(config.version))
                self.config_version = config.version
                log.info("applied configuration version %d", config.version)
                self._changed()
            return
        if config.version == self._applied_here:
            return  # the retained message again (reconnect): already running it
        try:
            version = self.apply_config(payload)
        except Exception as exc:
            self._refuse(f"version {config.version}: {exc}")
            return
        self.outbox.set_meta("config_version", str(version))
        self.outbox.set_meta("config_payload", payload.decode())
        self.config_version = self._applied_here = version
        self.config_error = None
        log.info("applied configuration version %d", version)
        self._changed()

    def _refuse(self, reason: str) -> None:
        self.config_error = reason
        log.error(
            "cmd_result config ok=false: refusing desired configuration (%s); keeping version %s",
            reason,
            self.config_version,
        )
        self._changed()

    def _changed(self) -> None:
        if self.on_config_change is None:
            return
        try:
            self.on_config_change()
        except Exception:  # reporting early is a courtesy: the periodic health snapshot still carries it
            log.exception("reporting the configuration outcome failed")


def _cmd_id(payload: bytes) -> str | None:
    try:
        data = json.loads(payload)
    except ValueError:
        return None
    value = data.get("cmd_id") if isinstance(data, dict) else None
    return value if isinstance(value, str) and value else None


def _first_error(exc: ValidationError) -> str:
    err = exc.errors()[0]
    where = ".".join(str(p) for p in err["loc"])
    return f"{where}: {err['msg']}" if where else err["msg"]
