// Undo and redo for the zone editor, pure: a bounded list of snapshots of the editor's state (deep copies, so a
// later change never reaches back into the past). A drag records one step when it ends, not one per mouse move.

export class History<T> {
  private past: string[] = []
  private future: string[] = []

  constructor(
    private present: string,
    private readonly limit = 200,
  ) {}

  static of<T>(state: T, limit = 200): History<T> {
    return new History<T>(JSON.stringify(state), limit)
  }

  get current(): T {
    return JSON.parse(this.present) as T
  }

  get canUndo(): boolean {
    return this.past.length > 0
  }

  get canRedo(): boolean {
    return this.future.length > 0
  }

  /** Record `state` as the next step; nothing when it equals the current one. Clears what could be redone. */
  push(state: T): boolean {
    const text = JSON.stringify(state)
    if (text === this.present) return false
    this.past.push(this.present)
    if (this.past.length > this.limit) this.past.shift()
    this.present = text
    this.future = []
    return true
  }

  undo(): T | null {
    const previous = this.past.pop()
    if (previous === undefined) return null
    this.future.push(this.present)
    this.present = previous
    return this.current
  }

  redo(): T | null {
    const next = this.future.pop()
    if (next === undefined) return null
    this.past.push(this.present)
    this.present = next
    return this.current
  }

  /** Start over from `state` (a freshly loaded configuration): nothing to undo. */
  reset(state: T): void {
    this.present = JSON.stringify(state)
    this.past = []
    this.future = []
  }
}
