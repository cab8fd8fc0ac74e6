// Rows of many customers read in one statement, handed out per customer.

/** Groups rows by their `customer_id`, which each row's value no longer carries. */
export function byCustomer<T extends object>(
  rows: readonly (T & { customer_id: string })[],
): Map<string, T[]> {
  const out = new Map<string, T[]>();
  for (const { customer_id, ...rest } of rows) {
    const value = rest as unknown as T;
    const list = out.get(customer_id);
    if (list) list.push(value);
    else out.set(customer_id, [value]);
  }
  return out;
}
