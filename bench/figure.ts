// One benchmark figure, printed as one JSON line by `npm run bench`.
export type BenchFigure = {
  bench: string;
  metric: string;
  value: number;
  unit: string;
  backend: string;
  [k: string]: unknown;
};
