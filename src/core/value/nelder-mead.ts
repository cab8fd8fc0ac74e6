// Derivative-free minimisation (Nelder–Mead simplex) with restarts, for the maximum-likelihood fits. The models'
// likelihoods are smooth but badly scaled, so callers optimise log-parameters; restarting from the best point
// with a fresh simplex guards against the simplex collapsing before it reaches the optimum.

export interface MinimizeOptions {
  maxIterations?: number;
  /** stop when the simplex's values differ by less than this (absolute) */
  valueTolerance?: number;
  /** and its points by less than this in every coordinate */
  pointTolerance?: number;
  /** size of the first simplex around the start */
  initialStep?: number;
}

export interface Minimum {
  point: number[];
  value: number;
  iterations: number;
  converged: boolean;
}

type Objective = (x: readonly number[]) => number;

function safe(f: Objective): Objective {
  return (x) => {
    const v = f(x);
    return Number.isNaN(v) ? Number.POSITIVE_INFINITY : v;
  };
}

function combine(a: readonly number[], b: readonly number[], t: number): number[] {
  // a + t (b − a)
  return a.map((ai, i) => ai + t * ((b[i] ?? ai) - ai));
}

function spread(points: readonly number[][], values: readonly number[]): { value: number; point: number } {
  const best = points[0] ?? [];
  let value = 0;
  let point = 0;
  for (let i = 1; i < points.length; i++) {
    value = Math.max(value, Math.abs((values[i] ?? 0) - (values[0] ?? 0)));
    const p = points[i] ?? [];
    for (let j = 0; j < best.length; j++) point = Math.max(point, Math.abs((p[j] ?? 0) - (best[j] ?? 0)));
  }
  return { value, point };
}

/** One Nelder–Mead run (reflection 1, expansion 2, contraction ½, shrink ½). */
export function nelderMead(
  objective: Objective,
  start: readonly number[],
  options: MinimizeOptions = {},
): Minimum {
  const f = safe(objective);
  const n = start.length;
  const maxIterations = options.maxIterations ?? 200 * n;
  const step = options.initialStep ?? 0.5;
  let points: number[][] = [[...start]];
  for (let i = 0; i < n; i++) points.push(start.map((v, j) => (j === i ? v + step : v)));
  let values = points.map(f);
  let iterations = 0;
  for (; iterations < maxIterations; iterations++) {
    const order = values.map((_, i) => i).sort((i, j) => (values[i] ?? 0) - (values[j] ?? 0));
    points = order.map((i) => points[i] ?? []);
    values = order.map((i) => values[i] ?? 0);
    const s = spread(points, values);
    if (s.value <= (options.valueTolerance ?? 1e-10) && s.point <= (options.pointTolerance ?? 1e-8)) break;
    const worst = points[n] ?? [];
    const worstValue = values[n] ?? Number.POSITIVE_INFINITY;
    const centroid = new Array<number>(n).fill(0);
    for (let i = 0; i < n; i++)
      for (let j = 0; j < n; j++) centroid[j] = (centroid[j] ?? 0) + (points[i]?.[j] ?? 0) / n;
    const reflected = combine(centroid, worst, -1);
    const fr = f(reflected);
    if (fr < (values[0] ?? 0)) {
      const expanded = combine(centroid, worst, -2);
      const fe = f(expanded);
      points[n] = fe < fr ? expanded : reflected;
      values[n] = Math.min(fe, fr);
    } else if (fr < (values[n - 1] ?? 0)) {
      points[n] = reflected;
      values[n] = fr;
    } else {
      const outside = fr < worstValue;
      const contracted = combine(centroid, outside ? reflected : worst, 0.5);
      const fc = f(contracted);
      if (fc < (outside ? fr : worstValue)) {
        points[n] = contracted;
        values[n] = fc;
      } else {
        const best = points[0] ?? [];
        points = points.map((p, i) => (i === 0 ? p : combine(best, p, 0.5)));
        values = points.map((p, i) => (i === 0 ? (values[0] ?? 0) : f(p)));
      }
    }
  }
  const bestIndex = values.indexOf(Math.min(...values));
  return {
    point: points[bestIndex] ?? [...start],
    value: values[bestIndex] ?? Number.POSITIVE_INFINITY,
    iterations,
    converged: iterations < maxIterations,
  };
}

/**
 * Runs a coarse Nelder–Mead from each start, then polishes the best end point, restarting with a fresh simplex until
 * a restart no longer improves it. Coarse runs keep the cost of several starts low on large data sets, while the
 * several starts guard against a poor local optimum. Iterations are summed over all runs.
 */
export function minimizeWithRestarts(
  objective: Objective,
  starts: readonly (readonly number[])[],
  options: MinimizeOptions & { maxRestarts?: number } = {},
): Minimum {
  const coarse = { ...options, valueTolerance: 1e-6, pointTolerance: 1e-3 };
  let best: Minimum | null = null;
  let iterations = 0;
  for (const start of starts) {
    const found = nelderMead(objective, start, coarse);
    iterations += found.iterations;
    if (best === null || found.value < best.value) best = found;
  }
  if (best === null) return { point: [], value: Number.POSITIVE_INFINITY, iterations, converged: false };
  let current: Minimum = best;
  for (let r = 0; r <= (options.maxRestarts ?? 10); r++) {
    const again = nelderMead(objective, current.point, { ...options, initialStep: r === 0 ? 0.2 : 0.05 });
    iterations += again.iterations;
    const improved = current.value - again.value > (options.valueTolerance ?? 1e-10);
    if (again.value <= current.value) current = again;
    if (!improved && r > 0 && current.converged) break;
  }
  return { ...current, iterations };
}
