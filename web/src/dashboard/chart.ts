// Geometry for the hand-written SVG line chart: data → path and ticks, no DOM.

export interface Series {
  label: string;
  color: string;
  points: { x: number; y: number }[];
}

export interface ChartGeometry {
  paths: { label: string; color: string; d: string; last: { x: number; y: number; value: number } | null }[];
  xTicks: { pos: number; label: string }[];
  yTicks: { pos: number; label: string }[];
  plot: { left: number; top: number; right: number; bottom: number };
}

/** Round numbers for axis ticks (1, 2, 5 × 10^k). */
export function niceTicks(lo: number, hi: number, count = 5): number[] {
  if (!Number.isFinite(lo) || !Number.isFinite(hi)) return [];
  if (hi === lo) return [lo];
  const raw = (hi - lo) / Math.max(1, count - 1);
  const mag = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 5, 10].map((m) => m * mag).find((s) => s >= raw) ?? 10 * mag;
  const out: number[] = [];
  for (let v = Math.ceil(lo / step) * step; v <= hi + step * 1e-9; v += step) out.push(Number(v.toFixed(12)));
  return out;
}

export function chartGeometry(series: Series[], width: number, height: number, opts: { yMin?: number; yMax?: number; format?: (v: number) => string } = {}): ChartGeometry {
  const plot = { left: 44, top: 10, right: width - 12, bottom: height - 24 };
  const all = series.flatMap((s) => s.points).filter((p) => Number.isFinite(p.x) && Number.isFinite(p.y));
  const fmt = opts.format ?? ((v: number) => String(v));
  if (all.length === 0) return { paths: [], xTicks: [], yTicks: [], plot };
  let [x0, x1] = [Math.min(...all.map((p) => p.x)), Math.max(...all.map((p) => p.x))];
  let [y0, y1] = [opts.yMin ?? Math.min(...all.map((p) => p.y)), opts.yMax ?? Math.max(...all.map((p) => p.y))];
  if (x1 === x0) (x0 -= 1), (x1 += 1);
  if (y1 === y0) (y0 -= 0.5), (y1 += 0.5);
  const sx = (x: number) => plot.left + ((x - x0) / (x1 - x0)) * (plot.right - plot.left);
  const sy = (y: number) => plot.bottom - ((y - y0) / (y1 - y0)) * (plot.bottom - plot.top);
  const paths = series.map((s) => {
    const pts = s.points.filter((p) => Number.isFinite(p.x) && Number.isFinite(p.y));
    const d = pts.map((p, i) => `${i ? 'L' : 'M'}${sx(p.x).toFixed(1)},${sy(p.y).toFixed(1)}`).join('');
    const lp = pts.at(-1);
    return { label: s.label, color: s.color, d, last: lp ? { x: sx(lp.x), y: sy(lp.y), value: lp.y } : null };
  });
  const xTicks = niceTicks(x0, x1, 6).filter((v) => Number.isInteger(v)).map((v) => ({ pos: sx(v), label: String(v) }));
  const yTicks = niceTicks(y0, y1, 5).map((v) => ({ pos: sy(v), label: fmt(v) }));
  return { paths, xTicks, yTicks, plot };
}
