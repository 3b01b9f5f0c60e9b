/**
 * From/to inputs for a chart's custom range; the bucket size follows the range's length.
 */

import { type SyntheticEvent, useState } from "react";

import { useI18n } from "../i18n";
import { type Range, customRange, localInput } from "../pages/history";

interface Props {
  /** The range shown now: the inputs start from it. */
  range: Range;
  onPick: (range: Range) => void;
}

export function CustomRange({ range, onPick }: Props) {
  const { t } = useI18n();
  const [from, setFrom] = useState(() => localInput((range.endMs ?? Date.now()) - range.ms));
  const [to, setTo] = useState(() => localInput(range.endMs ?? Date.now()));
  const picked = customRange(from, to);
  const submit = (e: SyntheticEvent): void => {
    e.preventDefault();
    if (picked) onPick(picked);
  };
  return (
    <form className="custom-range" onSubmit={submit} data-testid="custom-range">
      <input type="datetime-local" aria-label={t("chart.from")} value={from} onChange={(e) => setFrom(e.target.value)} data-testid="range-from" />
      <span className="muted">–</span>
      <input type="datetime-local" aria-label={t("chart.to")} value={to} onChange={(e) => setTo(e.target.value)} data-testid="range-to" />
      <button type="submit" className={`btn btn-small${range.endMs !== undefined ? " btn-active" : ""}`} disabled={!picked} data-testid="range-apply">
        {t("chart.show")}
      </button>
    </form>
  );
}
