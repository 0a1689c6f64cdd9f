// The browser's login session. The access token lives in memory only; the refresh token is an HttpOnly cookie
// (path /api/v1/auth) that page scripts never see, exchanged with the CSRF header for a new access token on load
// and a minute before the current one expires. Refresh tokens are single use: the hub takes a second use for a
// stolen token and ends the session. So refreshes never overlap, neither in one page (they share one request) nor
// across tabs (a Web Lock; the tab that refreshed hands its token to the others over a BroadcastChannel, and a
// logout in one tab logs out all of them).
import { reactive } from 'vue'

export type Role = 'admin' | 'commander' | 'officer' | 'technician'

export interface SessionUser {
  username: string
  role: Role
  display_name?: string | null
  districts: string[]
  grids: string[]
}

interface TokenAnswer {
  access_token: string
  expires_in: number
  role: Role
}

const CSRF = { 'X-Requested-With': 'cityops' }
const USER_CACHE = 'cityops.user'

export const session = reactive({
  token: null as string | null,
  expiresAt: 0,
  user: null as SessionUser | null,
  offline: false, // the last refresh failed for want of network (the officer app works on from its cache)
})

export class AuthError extends Error {}

/** Home page of each role. */
export const HOME: Record<Role, string> = {
  admin: '/admin/',
  commander: '/command/',
  officer: '/officer/',
  technician: '/technician/',
}

let refreshing: Promise<boolean> | null = null
let timer: ReturnType<typeof setTimeout> | undefined
const tabs = typeof BroadcastChannel === 'undefined' ? null : new BroadcastChannel('cityops-auth')

type TabMessage = { type: 'token'; token: string; expiresAt: number } | { type: 'logout' }

function useToken(token: string, expiresAt: number): void {
  session.token = token
  session.expiresAt = expiresAt
  session.offline = false
  clearTimeout(timer)
  timer = setTimeout(() => void refresh(), Math.max(5_000, expiresAt - Date.now() - 60_000))
}

function accept(answer: TokenAnswer): void {
  useToken(answer.access_token, Date.now() + answer.expires_in * 1000)
  tabs?.postMessage({ type: 'token', token: answer.access_token, expiresAt: session.expiresAt } satisfies TabMessage)
}

if (tabs) {
  tabs.onmessage = (event: MessageEvent<TabMessage>) => {
    const message = event.data
    if (message.type === 'token' && message.expiresAt > session.expiresAt) useToken(message.token, message.expiresAt)
    else if (message.type === 'logout' && session.user) window.location.assign('/')
  }
}

/** Run `fn` while no other tab of this site refreshes (Web Locks; without them, in this tab alone). */
function exclusively<T>(fn: () => Promise<T>): Promise<T> {
  return navigator.locks ? (navigator.locks.request('cityops-refresh', fn) as Promise<T>) : fn()
}

async function loadUser(): Promise<SessionUser> {
  const response = await fetch('/api/v1/auth/me', { headers: { Authorization: `Bearer ${session.token}` } })
  if (!response.ok) throw new AuthError(`me: HTTP ${response.status}`)
  const user = (await response.json()) as SessionUser
  session.user = { ...user, districts: user.districts ?? [], grids: user.grids ?? [] }
  localStorage.setItem(USER_CACHE, JSON.stringify(session.user))
  return session.user
}

/** Username and password for a session; the refresh cookie is set by the answer. */
export async function login(username: string, password: string): Promise<SessionUser> {
  const response = await fetch('/api/v1/auth/token', {
    method: 'POST',
    headers: { 'Content-Type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({ username, password }),
    credentials: 'same-origin',
  })
  if (!response.ok) {
    const problem = await response.json().catch(() => ({}))
    throw new AuthError(String(problem.detail ?? `HTTP ${response.status}`))
  }
  accept((await response.json()) as TokenAnswer)
  return loadUser()
}

/** A new access token from the refresh cookie; false when the session is gone (or the network is). */
export function refresh(): Promise<boolean> {
  refreshing ??= exclusively(async () => {
    // Another tab may have refreshed while this one waited for the lock: its token came over the channel.
    if (session.token && session.expiresAt - Date.now() > 60_000) return true
    try {
      const response = await fetch('/api/v1/auth/refresh', { method: 'POST', headers: CSRF, credentials: 'same-origin' })
      if (!response.ok) {
        session.token = null
        return false
      }
      accept((await response.json()) as TokenAnswer)
      return true
    } catch {
      session.offline = true
      return false
    } finally {
      refreshing = null
    }
  })
  return refreshing
}

/** A valid access token, refreshed first when it is about to expire; null when there is no session. */
export async function accessToken(): Promise<string | null> {
  if (!session.token || session.expiresAt - Date.now() < 30_000) await refresh()
  return session.token
}

function cachedUser(): SessionUser | null {
  try {
    return JSON.parse(localStorage.getItem(USER_CACHE) ?? 'null') as SessionUser | null
  } catch {
    return null
  }
}

/**
 * The logged-in user of an app page, or a redirect to the login page. `roles` are those the app is for; others are
 * sent to their own home. With `allowOffline`, a failed refresh for want of network keeps the cached user.
 */
export async function requireSession(roles: Role[], allowOffline = false): Promise<SessionUser | null> {
  const ok = await refresh()
  let user: SessionUser | null = null
  if (ok) user = await loadUser()
  else if (allowOffline && session.offline) user = session.user = cachedUser()
  if (!user) {
    window.location.assign(`/?next=${encodeURIComponent(window.location.pathname)}`)
    return null
  }
  if (!roles.includes(user.role)) {
    window.location.assign(HOME[user.role])
    return null
  }
  document.documentElement.dataset.role = user.role
  return user
}

export async function logout(): Promise<void> {
  clearTimeout(timer)
  await fetch('/api/v1/auth/logout', { method: 'POST', headers: CSRF, credentials: 'same-origin' }).catch(() => undefined)
  session.token = null
  session.user = null
  localStorage.removeItem(USER_CACHE)
  tabs?.postMessage({ type: 'logout' } satisfies TabMessage)
  window.location.assign('/')
}
