/** The password change form's rules, apart from React so they are tested on their own. */

import { ApiError } from "../lib/api";

/** The bridge's own minimum (service/security.py MIN_PASSWORD_CHARS). */
export const MIN_PASSWORD_CHARS = 8;

export interface PasswordForm {
  current: string;
  next: string;
  confirm: string;
}

/** Why the form cannot be sent yet, or null when it can. */
export function passwordFormProblem(form: PasswordForm): string | null {
  if (!form.current) return "Enter your current password.";
  if (form.next.length < MIN_PASSWORD_CHARS) return `The new password needs at least ${MIN_PASSWORD_CHARS} characters.`;
  if (form.next !== form.confirm) return "The two new passwords differ.";
  if (form.next === form.current) return "The new password is the current one.";
  return null;
}

/** What to tell the user when the bridge refused the change. */
export function passwordChangeError(err: unknown): string {
  if (err instanceof ApiError) {
    if (err.status === 403) return "The current password is wrong.";
    if (err.status === 429) return "Too many wrong passwords: wait a little and try again.";
    return err.message;
  }
  return err instanceof Error ? err.message : String(err);
}
