import { describe, expect, it } from 'vitest'
import { configFileName, deviceIdFromLabel, parseProvisioningCode } from '@/apps/technician/register/qr'

// Made as cloud_hub.devices.provisioning.qr_payload makes it (base64url without padding, non-ASCII included).
function code(data: Record<string, string>): string {
  const bytes = new TextEncoder().encode(JSON.stringify(data))
  return 'cityops:1:' + btoa(String.fromCharCode(...bytes)).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '')
}

const fields = { d: 'edge-0007', h: 'https://hub.example', m: 'mqtts://edge-0007@broker.example:8883', s: 'Xk3~?>' }

describe('provisioning QR codes', () => {
  it('reads the fields back', () => {
    expect(parseProvisioningCode(code(fields))).toEqual(fields)
    expect(parseProvisioningCode(code({ ...fields, d: '鼓楼-1', x: 'later field' }))).toEqual({ ...fields, d: '鼓楼-1' })
  })

  it('refuses damaged or foreign codes', () => {
    expect(parseProvisioningCode('cityops:1:!!!')).toBeNull()
    expect(parseProvisioningCode(code({ d: 'x', h: 'y', m: 'z' }))).toBeNull()
    expect(parseProvisioningCode('https://example.com')).toBeNull()
  })
})

describe('device labels', () => {
  it.each([
    [code(fields), 'edge-0007'],
    ['  edge-gulou-12 ', 'edge-gulou-12'],
    ['https://hub.example/technician/device/edge-0003', 'edge-0003'],
    ['not an id!', null],
    ['ab', null],
  ])('%s', (text, id) => {
    expect(deviceIdFromLabel(text)).toBe(id)
  })

  it('names the configuration download after the device', () => {
    expect(configFileName('edge-0007')).toBe('cityops-edge-edge-0007.yaml')
  })
})
