import { describe, expect, it } from "vitest";

import { API_ERROR_CODES, ApiError, errorText } from "../lib/api";
import { i18n, languageOf } from "./index";
import en from "./en.json";
import ko from "./ko.json";

const placeholders = (text: string): string[] => [...text.matchAll(/\{\{\s*(\w+)\s*\}\}/g)].map((m) => m[1] ?? "").sort();

describe("the message catalogues", () => {
  it("have exactly the same keys in English and Korean", () => {
    expect(Object.keys(ko).sort()).toEqual(Object.keys(en).sort());
  });

  it("have no empty value in either language", () => {
    for (const catalogue of [en, ko] as Record<string, string>[]) {
      for (const [key, value] of Object.entries(catalogue)) expect(value.trim(), key).not.toBe("");
    }
  });

  it("use the same placeholders in both languages", () => {
    const koMessages = ko as Record<string, string>;
    for (const [key, value] of Object.entries(en as Record<string, string>)) {
      expect(placeholders(koMessages[key] ?? ""), key).toEqual(placeholders(value));
    }
  });

  it("have a message for every API error code in both languages", () => {
    for (const code of API_ERROR_CODES) {
      expect(en).toHaveProperty([`error.${code}`]);
      expect(ko).toHaveProperty([`error.${code}`]);
    }
  });
});

describe("languageOf", () => {
  it("picks Korean for any ko* browser language before English", () => {
    expect(languageOf(["ko-KR", "en-US"])).toBe("ko");
    expect(languageOf(["ko"])).toBe("ko");
    expect(languageOf(["en-GB", "ko-KR"])).toBe("en");
  });

  it("falls back to English for any other language", () => {
    expect(languageOf(["de-DE", "fr"])).toBe("en");
    expect(languageOf([])).toBe("en");
  });
});

describe("errorText", () => {
  it("says a known API code in the UI's language", async () => {
    await i18n.changeLanguage("ko");
    try {
      expect(errorText(new ApiError(403, "forbidden", "role too weak"))).toBe((ko as Record<string, string>)["error.forbidden"]);
    } finally {
      await i18n.changeLanguage("en");
    }
    expect(errorText(new ApiError(403, "forbidden", "role too weak"))).toBe((en as Record<string, string>)["error.forbidden"]);
  });

  it("names the field of an invalid input", () => {
    expect(errorText(new ApiError(422, "invalid", "threshold: not a number", "threshold"))).toBe("Some input is not valid. (threshold)");
  });

  it("falls back to the server's English message for an unknown code", () => {
    expect(errorText(new ApiError(418, "teapot", "I am a teapot"))).toBe("I am a teapot");
  });
});
