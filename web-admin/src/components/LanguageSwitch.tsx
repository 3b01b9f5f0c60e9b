/** The header's language control: 한국어 or English, remembered in this browser. */

import { type Language, LANGUAGES, setLanguage, useI18n } from "../i18n";

/** Each language by its own name, so a reader finds theirs whatever is shown. */
const NATIVE_NAME: Readonly<Record<Language, string>> = { ko: "한국어", en: "English" };

export function LanguageSwitch() {
  const { t, language } = useI18n();
  return (
    <label className="lang-switch">
      <select
        value={language}
        onChange={(e) => setLanguage(e.target.value as Language)}
        aria-label={t("app.language.label")}
        data-testid="language-switch"
      >
        {LANGUAGES.map((lng) => (
          <option key={lng} value={lng} lang={lng}>
            {NATIVE_NAME[lng]}
          </option>
        ))}
      </select>
    </label>
  );
}
