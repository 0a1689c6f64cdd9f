// Where in a YAML text a validation error points: the hub names the field by path (["kinds", "illegal_parking",
// "red"]); the editor wants a line. Block mappings and lists are followed by indentation; a key inside a flow
// mapping ({red: 15, ...}) points at its parent's line; a missing key points at the nearest ancestor found.

function indentOf(line: string): number {
  return line.length - line.trimStart().length
}

function isContent(line: string): boolean {
  const t = line.trim()
  return t !== '' && !t.startsWith('#') && t !== '---'
}

function escape(key: string): string {
  return key.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')
}

function startsWithKey(body: string, key: string): boolean {
  return new RegExp(`^(?:${escape(key)}|"${escape(key)}"|'${escape(key)}')\\s*:(\\s|$)`).test(body)
}

function blockEnd(lines: string[], from: number, indent: number): number {
  for (let i = from + 1; i < lines.length; i++) {
    if (isContent(lines[i]) && indentOf(lines[i]) <= indent) return i
  }
  return lines.length
}

/** The 1-based line of the field at `path` in `text`, or the nearest ancestor's line; null when none is found. */
export function lineOfPath(text: string, path: ReadonlyArray<string | number>): number | null {
  const lines = text.split('\n')
  let start = 0
  let end = lines.length
  let parentIndent = -1
  let found: number | null = null
  let itemLine = -1 // a list item's line, whose first key follows the "- "
  for (const key of path) {
    if (typeof key === 'number') {
      let count = -1
      let itemIndent = -1
      let hit = -1
      for (let i = start; i < end; i++) {
        if (!isContent(lines[i])) continue
        const indent = indentOf(lines[i])
        if (indent <= parentIndent) break
        if (itemIndent < 0) itemIndent = indent
        if (indent === itemIndent && lines[i].trimStart().startsWith('-') && ++count === key) {
          hit = i
          break
        }
      }
      if (hit < 0) return found
      found = hit + 1
      parentIndent = itemIndent
      start = hit
      end = blockEnd(lines, hit, itemIndent)
      itemLine = hit
      continue
    }
    let childIndent = -1
    let hit = -1
    for (let i = start; i < end; i++) {
      if (!isContent(lines[i])) continue
      let body = lines[i].trim()
      let indent = indentOf(lines[i])
      if (i === itemLine) {
        const rest = body.replace(/^-\s+/, '')
        indent += body.length - rest.length
        body = rest
      } else if (indent <= parentIndent) break
      if (childIndent < 0) childIndent = indent
      if (indent === childIndent && startsWithKey(body, key)) {
        hit = i
        break
      }
    }
    if (hit < 0) return found // a key of a flow mapping, or a missing one: its parent's line
    found = hit + 1
    parentIndent = childIndent
    start = hit + 1
    end = blockEnd(lines, hit, childIndent)
    itemLine = -1
  }
  return found
}

/** "not valid YAML at line 7, column 3: ..." -> 7. */
export function lineInMessage(message: string): number | null {
  const match = /\bline (\d+)/.exec(message)
  return match ? Number(match[1]) : null
}
