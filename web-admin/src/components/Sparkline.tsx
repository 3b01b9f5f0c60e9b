/** A small SVG line of a sensor's recent values, for its tile. */

import { memo } from "react";

export const SPARKLINE_POINTS = 60;

interface Props {
  values: readonly number[];
  width?: number;
  height?: number;
}

export const Sparkline = memo(function Sparkline({ values, width = 120, height = 32 }: Props) {
  if (values.length < 2) return <svg className="sparkline" width={width} height={height} aria-hidden />;
  let lo = Infinity;
  let hi = -Infinity;
  for (const v of values) {
    if (v < lo) lo = v;
    if (v > hi) hi = v;
  }
  const span = hi - lo || 1;
  const step = width / (values.length - 1);
  const points = values
    .map((v, i) => `${(i * step).toFixed(1)},${(height - 2 - ((v - lo) / span) * (height - 4)).toFixed(1)}`)
    .join(" ");
  return (
    <svg className="sparkline" width={width} height={height} viewBox={`0 0 ${width} ${height}`} aria-hidden>
      <polyline points={points} fill="none" stroke="currentColor" strokeWidth="1.5" strokeLinejoin="round" />
    </svg>
  );
});
