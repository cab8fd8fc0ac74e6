// Work through a list with a bounded number of tasks in flight (each lane takes the next item when its last is
// done), and repeat a batch until it finds nothing to do.

/** Runs `work` on every item, at most `lanes` at once; resolves when all are done. */
export async function inLanes<T>(
  items: readonly T[],
  lanes: number,
  work: (item: T) => Promise<void>,
): Promise<void> {
  let next = 0;
  const lane = async () => {
    for (let i = next++; i < items.length; i = next++) await work(items[i] as T);
  };
  await Promise.all(Array.from({ length: Math.max(1, Math.min(lanes, items.length)) }, lane));
}

/** Repeats `batch` until it finds nothing to do; returns the total it did. */
export async function drain(batch: () => Promise<number>): Promise<number> {
  let total = 0;
  for (let n = await batch(); n > 0; n = await batch()) total += n;
  return total;
}
