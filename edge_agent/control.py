"""Hub-to-device control: commands (`cmd` -> `cmd_result`) and the retained desired configuration (`config`)."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable

from pydantic import ValidationError

from cityops.contract.messages import Ack, Command, CommandResult, DeviceConfig, dump
from cityops.contract.topics import Topic
from edge_agent.comms.link import Link
from edge_agent.comms.outbox import Outbox

log = logging.getLogger(__name__)

CommandHandler = Callable[[dict], str]
"""Takes the command's args, returns a detail for the result; raises to report ok=false."""


def ping(_args: dict) -> str:
    return "pong"


class Controller:
    def __init__(
        self,
        link: Link,
        outbox: Outbox,
        on_ack: Callable[[int], None],
        handlers: dict[str, CommandHandler] | None = None,
    ) -> None:
        self.link = link
        self.outbox = outbox  # the applied config version lives in the outbox's meta table: one durable store
        self.on_ack = on_ack
        self.handlers: dict[str, CommandHandler] = {"ping": ping, **(handlers or {})}
        stored = outbox.get_meta("config_version")
        self.config_version: int | None = int(stored) if stored is not None else None

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
        handler = self.handlers.get(cmd.name)
        if handler is None:
            supported = ", ".join(sorted(self.handlers))
            result = CommandResult(
                cmd_id=cmd.cmd_id, ok=False, detail=f"unknown command {cmd.name!r}; this agent supports: {supported}"
            )
        else:
            try:
                result = CommandResult(cmd_id=cmd.cmd_id, ok=True, detail=handler(cmd.args))
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
            log.error("refusing desired configuration: %s; keeping version %s", _first_error(exc), self.config_version)
            return
        if config.version != self.config_version:
            self.outbox.set_meta("config_version", str(config.version))
            self.config_version = config.version
            log.info("applied configuration version %d", config.version)


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
