// The technician app's calls to the hub beyond plain lists: device commands and their results, snapshots as
// pictures, and the desired configuration with the hub's validation problems.
//
// A command's answer is pushed by the live channel (`device` message, op `command`, as soon as the hub stores it):
// the app reads the command once when it starts waiting (it may have been answered already) and once when the push
// names it; no asking in a loop. After the timeout a last read decides.
import { api, ApiError, rawFetch, unwrap, type Schemas } from '@/api/client'
import { live } from './live'

export type CommandPublic = Schemas['CommandPublic']
export type CommandSent = Schemas['CommandSent']
export type ConfigState = Schemas['ConfigState']

export class CommandTimeout extends Error {
  constructor(readonly cmdId: string) {
    super(cmdId)
  }
}

export async function sendCommand(deviceId: string, name: string, args: Record<string, unknown> = {}): Promise<CommandSent> {
  return unwrap(
    await api.POST('/api/v1/devices/{device_id}/commands', { params: { path: { device_id: deviceId } }, body: { name, args } }),
  )
}

function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(resolve, ms)
    signal?.addEventListener('abort', () => {
      clearTimeout(timer)
      reject(signal.reason)
    })
  })
}

export interface WaitOptions {
  timeoutMs?: number
  signal?: AbortSignal
}

async function readCommand(deviceId: string, cmdId: string, signal?: AbortSignal): Promise<CommandPublic> {
  return unwrap(
    await api.GET('/api/v1/devices/{device_id}/commands/{cmd_id}', {
      params: { path: { device_id: deviceId, cmd_id: cmdId } },
      signal,
    }),
  )
}

/** The command once the box has answered it (ok or failed); CommandTimeout when it has not within `timeoutMs`. */
export async function waitForCommand(deviceId: string, cmdId: string, options: WaitOptions = {}): Promise<CommandPublic> {
  const timeoutMs = options.timeoutMs ?? 30_000
  let answered: () => void = () => undefined
  const pushed = new Promise<void>((resolve) => (answered = resolve))
  const stop = live.on('device', (message) => {
    if (message.op === 'command' && message.data.cmd_id === cmdId && message.data.device_id === deviceId) answered()
  })
  try {
    const first = await readCommand(deviceId, cmdId, options.signal)
    if (first.status !== 'pending') return first
    const aborted = new Promise<never>((_, reject) => options.signal?.addEventListener('abort', () => reject(options.signal?.reason)))
    await Promise.race([pushed, sleep(timeoutMs, options.signal), aborted])
    const command = await readCommand(deviceId, cmdId, options.signal)
    if (command.status === 'pending') throw new CommandTimeout(cmdId)
    return command
  } finally {
    stop()
  }
}

/** Send a command and wait for the box's answer. */
export async function runCommand(
  deviceId: string,
  name: string,
  args: Record<string, unknown> = {},
  options: WaitOptions = {},
): Promise<CommandPublic> {
  const sent = await sendCommand(deviceId, name, args)
  return waitForCommand(deviceId, sent.cmd_id, options)
}

export interface Picture {
  /** An object URL of the JPEG: revoke it when done. */
  url: string
  cmdId: string | null
  storedAt: string | null
  width: number
  height: number
}

function loadImage(url: string): Promise<HTMLImageElement> {
  return new Promise((resolve, reject) => {
    const image = new Image()
    image.onload = () => resolve(image)
    image.onerror = () => reject(new Error('image'))
    image.src = url
  })
}

async function picture(path: string): Promise<Picture> {
  const response = await rawFetch(path)
  if (!response.ok) {
    const problem = (await response.json().catch(() => ({}))) as { detail?: string }
    throw new ApiError(response.status, problem.detail ?? `HTTP ${response.status}`)
  }
  const url = URL.createObjectURL(await response.blob())
  const image = await loadImage(url)
  return {
    url,
    cmdId: response.headers.get('X-Snapshot-Cmd-Id'),
    storedAt: response.headers.get('X-Snapshot-Stored-At'),
    width: image.naturalWidth,
    height: image.naturalHeight,
  }
}

/** The newest stored snapshot of a camera (404 ApiError when there is none). */
export function latestSnapshot(deviceId: string, cameraId: string): Promise<Picture> {
  return picture(`/api/v1/devices/${encodeURIComponent(deviceId)}/snapshots/latest?camera_id=${encodeURIComponent(cameraId)}`)
}

/** The snapshot that answered command `cmdId` (a `snapshot` or `probe`). */
export function snapshotOf(deviceId: string, cmdId: string): Promise<Picture> {
  return picture(`/api/v1/devices/${encodeURIComponent(deviceId)}/snapshots/${encodeURIComponent(cmdId)}`)
}

export class CommandFailed extends Error {
  constructor(readonly command: CommandPublic) {
    super(command.detail ?? command.send_error ?? command.status)
  }
}

/** Ask the box for a new picture of the camera and fetch it once it is uploaded. */
export async function freshSnapshot(deviceId: string, cameraId: string, options: WaitOptions = {}): Promise<Picture> {
  const command = await runCommand(deviceId, 'snapshot', { camera_id: cameraId }, { timeoutMs: 30_000, ...options })
  if (!command.ok) throw new CommandFailed(command)
  return snapshotOf(deviceId, command.cmd_id)
}

export interface ConfigProblem {
  path: string
  msg: string
  type: string
}

/** `["body", "cameras", 0, "zones", 1]` -> `$.cameras[0].zones[1]` (the hub's JSON path notation). */
export function jsonPath(loc: unknown[]): string {
  let path = '$'
  for (const part of loc[0] === 'body' ? loc.slice(1) : loc) path += typeof part === 'number' ? `[${part}]` : `.${String(part)}`
  return path
}

/** The hub's problem list of a 422 (each with its JSON path: given, or made from `loc`), or one problem carrying
 * the detail. */
export function problemsOf(error: unknown, status: number): ConfigProblem[] {
  const body = (error ?? {}) as { detail?: unknown; errors?: unknown }
  if (Array.isArray(body.errors) && body.errors.length) {
    return body.errors.map((e: Record<string, unknown>) => ({
      path: typeof e.path === 'string' ? e.path : Array.isArray(e.loc) ? jsonPath(e.loc) : '$',
      msg: String(e.msg ?? ''),
      type: String(e.type ?? ''),
    }))
  }
  return [{ path: '$', msg: typeof body.detail === 'string' ? body.detail : `HTTP ${status}`, type: `http.${status}` }]
}

export type ConfigBody = Schemas['ConfigUpdate']

/** POST .../config/validate: [] when valid, else the problems. */
export async function validateConfig(deviceId: string, config: Record<string, unknown>): Promise<ConfigProblem[]> {
  const result = await api.POST('/api/v1/devices/{device_id}/config/validate', {
    params: { path: { device_id: deviceId } },
    body: config as ConfigBody,
  })
  if (result.error === undefined && result.data) return []
  return problemsOf(result.error, result.response.status)
}

export class ConfigRefused extends Error {
  constructor(
    readonly status: number,
    readonly problems: ConfigProblem[],
  ) {
    super(problems[0]?.msg ?? `HTTP ${status}`)
  }
}

/** PUT .../config based on version `expected` (409 when someone else changed it first): the new state. */
export async function putConfig(deviceId: string, config: Record<string, unknown>, expected: number): Promise<ConfigState> {
  const result = await api.PUT('/api/v1/devices/{device_id}/config', {
    params: { path: { device_id: deviceId } },
    body: { ...config, version: expected } as ConfigBody,
  })
  if (result.error !== undefined || !result.data) {
    throw new ConfigRefused(result.response.status, problemsOf(result.error, result.response.status))
  }
  return result.data
}

export async function getConfig(deviceId: string): Promise<ConfigState> {
  return unwrap(await api.GET('/api/v1/devices/{device_id}/config', { params: { path: { device_id: deviceId } } }))
}

let schemaPromise: Promise<Record<string, unknown>> | null = null

/** The camera-rules JSON Schema (fetched once per page). */
export function cameraRulesSchema(): Promise<Record<string, unknown>> {
  schemaPromise ??= api
    .GET('/api/v1/schemas/camera-rules')
    .then(unwrap)
    .catch((exc: unknown) => {
      schemaPromise = null
      throw exc
    })
  return schemaPromise
}

/** A readable message of any failure, for an alert. */
export function messageOf(exc: unknown): string {
  if (exc instanceof Error) return exc.message
  return String(exc)
}
