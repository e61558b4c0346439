// Chart data shapes shared by the dashboard's uPlot charts.

/** A uPlot series over rounds (UPlotChart.svelte): one value (or gap) per x. */
export interface ChartSeries {
  label: string;
  color: string;
  values: (number | null)[];
  /** A second y scale on the right (e.g. a ratio next to bytes). */
  right?: boolean;
}
