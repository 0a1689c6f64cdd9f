import { baseCompile } from '@intlify/message-compiler'
import { describe, expect, it } from 'vitest'
import en from '@/i18n/messages/technician.en.json'
import zh from '@/i18n/messages/technician.zh-CN.json'

// vue-i18n reads { } @ | $ % as syntax: a literal one in a text (a JSON example, user@host) breaks it at run time.
function texts(node: Record<string, unknown>, path = ''): Array<[string, string]> {
  return Object.entries(node).flatMap(([k, v]) =>
    typeof v === 'string' ? [[`${path}${k}`, v] as [string, string]] : texts(v as Record<string, unknown>, `${path}${k}.`),
  )
}

describe('technician texts', () => {
  it.each([
    ['zh-CN', zh],
    ['en', en],
  ])('all compile as vue-i18n messages (%s)', (_locale, messages) => {
    const broken: string[] = []
    for (const [key, text] of texts(messages)) {
      baseCompile(text, { onError: (error) => broken.push(`${key}: ${error.message}`) })
    }
    expect(broken).toEqual([])
  })
})
