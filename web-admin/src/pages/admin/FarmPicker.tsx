/** A farm chooser for the admin pages; the choice is kept in the URL (?farm=). */

import { useI18n } from "../../i18n";
import type { Farm } from "../../lib/api";

export function FarmPicker({
  farms,
  value,
  onChange,
}: {
  farms: readonly Farm[];
  value: number | null;
  onChange: (id: number) => void;
}) {
  const { t } = useI18n();
  return (
    <label className="field field-inline">
      <span>{t("admin.farm")}</span>
      <select value={value ?? ""} onChange={(e) => onChange(Number(e.target.value))}>
        {farms.map((f) => (
          <option key={f.id} value={f.id}>
            {f.title || f.name}
          </option>
        ))}
      </select>
    </label>
  );
}
