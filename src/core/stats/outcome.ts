// Expected failures as values: statistics on bad or too little data answer { ok: false, reason } instead of
// throwing, so a report can show the reason beside the numbers it could compute.

export interface Failure {
  ok: false;
  reason: string;
}

export function failure(reason: string): Failure {
  return { ok: false, reason };
}

/** A non-negative whole number of customers or conversions, or the reason it is not one. */
export function checkCount(value: number, name: string): string | null {
  if (!Number.isFinite(value)) return `${name} must be a finite number, got ${String(value)}`;
  if (value < 0 || !Number.isInteger(value)) return `${name} must be a whole number ≥ 0, got ${value}`;
  return null;
}

/** A finite number, or the reason it is not one (NaN and ±Infinity are never valid measurements). */
export function checkFinite(value: number, name: string): string | null {
  return Number.isFinite(value) ? null : `${name} must be a finite number, got ${String(value)}`;
}

/** Index of the first value that is not a finite number, or −1. */
export function firstNonFinite(values: ArrayLike<number>): number {
  for (let i = 0; i < values.length; i++) if (!Number.isFinite(values[i])) return i;
  return -1;
}
