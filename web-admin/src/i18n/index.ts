/**
 * The UI's language: Korean or English, from the browser (`navigator.languages`, ko* ->
 * Korean) unless the user picked one (kept in localStorage); `<html lang>` follows it.
 * Message catalogues are `en.json` and `ko.json`, flat keys, the same in both.
 */

import i18n from "i18next";
import { initReactI18next, useTranslation } from "react-i18next";

import en from "./en.json";
import ko from "./ko.json";

export const LANGUAGES = ["ko", "en"] as const;
export type Language = (typeof LANGUAGES)[number];

/** Where the user's choice of language is kept, per browser. */
export const LANGUAGE_STORAGE_KEY = "farmbridge.language";

function isLanguage(v: unknown): v is Language {
  return typeof v === "string" && (LANGUAGES as readonly string[]).includes(v);
}

/** Korean for any `ko*` browser language before any English one, else English. */
export function languageOf(preferred: readonly string[]): Language {
  for (const tag of preferred) {
    const base = tag.toLowerCase().split("-")[0];
    if (base === "ko") return "ko";
    if (base === "en") return "en";
  }
  return "en";
}

function storedLanguage(): Language | null {
  try {
    const v = window.localStorage.getItem(LANGUAGE_STORAGE_KEY);
    return isLanguage(v) ? v : null;
  } catch {
    return null;
  }
}

export function detectLanguage(): Language {
  const stored = typeof window !== "undefined" ? storedLanguage() : null;
  if (stored) return stored;
  if (typeof navigator === "undefined") return "en";
  return languageOf(navigator.languages.length ? navigator.languages : [navigator.language]);
}

function applyToDocument(lng: string): void {
  if (typeof document !== "undefined") document.documentElement.lang = lng;
}

void i18n.use(initReactI18next).init({
  resources: { en: { translation: en }, ko: { translation: ko } },
  lng: detectLanguage(),
  fallbackLng: "en",
  supportedLngs: [...LANGUAGES],
  // Keys are flat ("page.key"): dots are part of the key.
  keySeparator: false,
  nsSeparator: false,
  interpolation: { escapeValue: false },
  returnNull: false,
  initAsync: false,
});
applyToDocument(i18n.language);
i18n.on("languageChanged", applyToDocument);

/** Switch the UI's language and remember the choice in this browser. */
export function setLanguage(lng: Language): void {
  try {
    window.localStorage.setItem(LANGUAGE_STORAGE_KEY, lng);
  } catch {
    // Private mode or storage full: the switch still holds for this tab.
  }
  void i18n.changeLanguage(lng);
}

/** The current language, for `Intl` formatters (a BCP 47 tag). */
export function currentLocale(): string {
  return i18n.language === "ko" ? "ko-KR" : "en";
}

/** `t` and the current language; a component using it re-renders on a switch. */
export function useI18n(): { t: typeof i18n.t; language: Language } {
  const { t, i18n: inst } = useTranslation();
  return { t, language: isLanguage(inst.language) ? inst.language : "en" };
}

export { i18n };
export const t: typeof i18n.t = i18n.t.bind(i18n);
