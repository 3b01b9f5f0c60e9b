import { describe, expect, it } from "vitest";

import { ApiError } from "../lib/api";
import { MIN_PASSWORD_CHARS, passwordChangeError, passwordFormProblem } from "./passwordForm";

const good = { current: "old-password", next: "new-password", confirm: "new-password" };

describe("passwordFormProblem", () => {
  it("accepts a complete form", () => {
    expect(passwordFormProblem(good)).toBeNull();
  });

  it("needs the current password", () => {
    expect(passwordFormProblem({ ...good, current: "" })).toBe("Enter your current password.");
  });

  it("refuses a new password shorter than the bridge's minimum", () => {
    const short = "x".repeat(MIN_PASSWORD_CHARS - 1);
    expect(passwordFormProblem({ ...good, next: short, confirm: short })).toMatch(/at least 8/);
    const enough = "x".repeat(MIN_PASSWORD_CHARS);
    expect(passwordFormProblem({ ...good, next: enough, confirm: enough })).toBeNull();
  });

  it("refuses a confirmation that differs", () => {
    expect(passwordFormProblem({ ...good, confirm: "new-passwore" })).toBe("The two new passwords differ.");
  });

  it("refuses the current password as the new one", () => {
    expect(passwordFormProblem({ current: good.next, next: good.next, confirm: good.next })).toMatch(/current one/);
  });
});

describe("passwordChangeError", () => {
  it("names a wrong current password and the login delay", () => {
    expect(passwordChangeError(new ApiError(403, "forbidden", "the current password is wrong"))).toBe(
      "The current password is wrong.",
    );
    expect(passwordChangeError(new ApiError(429, "rate_limited", "too many failed logins"))).toMatch(/wait/);
  });

  it("says other API errors by their code, and passes unknown codes and other errors through", () => {
    expect(passwordChangeError(new ApiError(422, "invalid", "new_password: too short", "new_password"))).toBe(
      "Some input is not valid. (new_password)",
    );
    expect(passwordChangeError(new ApiError(418, "teapot", "short and stout"))).toBe("short and stout");
    expect(passwordChangeError(new Error("boom"))).toBe("boom");
  });
});
