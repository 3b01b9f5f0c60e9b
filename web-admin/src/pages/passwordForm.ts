/** The password change form's rules, apart from React so they are tested on their own. */

import { t } from "../i18n";
import { ApiError, errorText } from "../lib/api";

/** The bridge's own minimum (service/security.py MIN_PASSWORD_CHARS). */
export const MIN_PASSWORD_CHARS = 8;

export interface PasswordForm {
  current: string;
  next: string;
  confirm: string;
}

/** Why the form cannot be sent yet, or null when it can. */
export function passwordFormProblem(form: PasswordForm): string | null {
  if (!form.current) return t("password.problem.current");
  if (form.next.length < MIN_PASSWORD_CHARS) return t("password.problem.short", { min: MIN_PASSWORD_CHARS });
  if (form.next !== form.confirm) return t("password.problem.differ");
  if (form.next === form.current) return t("password.problem.same");
  return null;
}

/** What to tell the user when the bridge refused the change. */
export function passwordChangeError(err: unknown): string {
  if (err instanceof ApiError) {
    if (err.status === 403) return t("password.error.wrong");
    if (err.status === 429) return t("password.error.tooMany");
  }
  return errorText(err);
}
