// A device's recent commands, with those this page sent followed until the box answers.
import { onBeforeUnmount, ref } from 'vue'
import { api, unwrap } from '@/api/client'
import { CommandTimeout, messageOf, sendCommand, waitForCommand, type CommandPublic } from './api'

export function useCommands(deviceId: () => string) {
  const commands = ref<CommandPublic[]>([])
  const count = ref(0)
  const loadedAt = ref<number | null>(null)
  const error = ref<string | null>(null)
  const busy = ref<string | null>(null) // the name of the command being sent
  const abort = new AbortController()
  onBeforeUnmount(() => abort.abort())

  async function load(): Promise<void> {
    try {
      const page = unwrap(
        await api.GET('/api/v1/devices/{device_id}/commands', {
          params: { path: { device_id: deviceId() }, query: { limit: 20 } },
        }),
      )
      commands.value = page.data
      count.value = page.count
      loadedAt.value = Date.now()
      error.value = null
    } catch (exc) {
      error.value = messageOf(exc)
    }
  }

  function replace(command: CommandPublic): void {
    const i = commands.value.findIndex((c) => c.cmd_id === command.cmd_id)
    if (i >= 0) commands.value.splice(i, 1, command)
    else commands.value.unshift(command)
  }

  /** Follow a sent command: its answer appears in the list when the box replies (model updates take minutes). */
  async function follow(cmdId: string, name: string, timeoutMs = 30_000): Promise<CommandPublic | null> {
    busy.value = name
    error.value = null
    try {
      await load()
      const answered = await waitForCommand(deviceId(), cmdId, { timeoutMs, signal: abort.signal })
      replace(answered)
      loadedAt.value = Date.now()
      return answered
    } catch (exc) {
      if (!abort.signal.aborted) error.value = exc instanceof CommandTimeout ? 'timeout' : messageOf(exc)
      return null
    } finally {
      busy.value = null
    }
  }

  /** Send a command and follow it. */
  async function send(name: string, args: Record<string, unknown> = {}, timeoutMs = 30_000): Promise<CommandPublic | null> {
    busy.value = name
    error.value = null
    try {
      const sent = await sendCommand(deviceId(), name, args)
      return await follow(sent.cmd_id, name, timeoutMs)
    } catch (exc) {
      error.value = messageOf(exc)
      busy.value = null
      return null
    }
  }

  return { commands, count, loadedAt, error, busy, load, send, follow }
}
