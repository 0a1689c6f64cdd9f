// The hub's password policy (cloud_hub/admin/users.py `password_problem`), shown while the administrator types so a
// refusal is seen before submitting. The hub stays the judge: its 422 is shown too.
export const MIN_PASSWORD = 10
export const MAX_PASSWORD = 256

export interface PolicyCheck {
  key: 'length' | 'maxLength' | 'notUsername'
  ok: boolean
}

export function passwordChecks(username: string, password: string): PolicyCheck[] {
  return [
    { key: 'length', ok: password.length >= MIN_PASSWORD },
    { key: 'maxLength', ok: password.length <= MAX_PASSWORD },
    { key: 'notUsername', ok: password.trim().toLowerCase() !== username.toLowerCase() },
  ]
}

export function passwordOk(username: string, password: string): boolean {
  return password.length > 0 && passwordChecks(username, password).every((c) => c.ok)
}
