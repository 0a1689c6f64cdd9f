// Validate, push and see applied: the last steps of every configuration change. The hub validates against the
// camera-rules schema (each problem with its JSON path); PUT stores the next version (409 when someone else changed
// it since it was loaded) and publishes it; the box applies it and says so in its health, which reaches this page as
// a live `device` message: config_version = the pushed version, or `config_error` naming it when it was refused.
import { computed, ref, watch } from 'vue'
import { ConfigRefused, messageOf, putConfig, validateConfig, type ConfigProblem } from './api'
import { configError, refusedVersion } from './fleet/status'
import { fleet, setDesired } from './fleet/store'

export type PushPhase = 'idle' | 'validating' | 'invalid' | 'valid' | 'pushing' | 'waiting' | 'applied' | 'refused' | 'conflict' | 'error'

export function usePushConfig(deviceId: () => string) {
  const phase = ref<PushPhase>('idle')
  const problems = ref<ConfigProblem[]>([])
  const pushedVersion = ref<number | null>(null)
  const error = ref<string | null>(null)
  const device = computed(() => fleet.devices.get(deviceId()))
  const refusal = computed(() => (device.value ? configError(device.value) : null))

  async function validate(config: Record<string, unknown>): Promise<boolean> {
    phase.value = 'validating'
    error.value = null
    try {
      problems.value = await validateConfig(deviceId(), config)
      phase.value = problems.value.length ? 'invalid' : 'valid'
      return !problems.value.length
    } catch (exc) {
      error.value = messageOf(exc)
      phase.value = 'error'
      return false
    }
  }

  function settle(): void {
    const d = device.value
    if (phase.value !== 'waiting' || !d || pushedVersion.value === null) return
    if (d.config_version === pushedVersion.value) phase.value = 'applied'
    else if (refusedVersion(configError(d)) === pushedVersion.value) phase.value = 'refused'
  }
  watch(() => [device.value?.config_version, refusal.value], settle)

  /** PUT the configuration on top of version `expected`; true when stored and published. */
  async function push(config: Record<string, unknown>, expected: number): Promise<boolean> {
    phase.value = 'pushing'
    error.value = null
    try {
      const state = await putConfig(deviceId(), config, expected)
      pushedVersion.value = state.desired?.version ?? null
      if (pushedVersion.value !== null) setDesired(deviceId(), pushedVersion.value)
      problems.value = []
      phase.value = 'waiting'
      settle() // the box may have answered before the hub's reply reached us
      return true
    } catch (exc) {
      if (exc instanceof ConfigRefused) {
        problems.value = exc.status === 422 ? exc.problems : []
        phase.value = exc.status === 409 ? 'conflict' : exc.status === 422 ? 'invalid' : 'error'
        error.value = exc.status === 422 ? null : exc.message
      } else {
        error.value = messageOf(exc)
        phase.value = 'error'
      }
      return false
    }
  }

  function clear(): void {
    problems.value = []
    error.value = null
    if (phase.value !== 'waiting') phase.value = 'idle'
  }

  return { phase, problems, pushedVersion, error, refusal, device, validate, push, clear }
}
