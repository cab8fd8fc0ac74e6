// Row types of the tables, for Kysely's typed queries.
import type { ColumnType, Generated } from "kysely";
import type { Undeliverable } from "../core/rules/index.ts";

type Timestamp = ColumnType<Date, Date | string, Date | string>;
type Json = ColumnType<unknown, string, string>;

export interface WorkspacesTable {
  workspace_id: Generated<number>;
  name: string;
  salt: string;
  settings: ColumnType<WorkspaceSettingsRow, string | undefined, string>;
  created_at: Generated<Date>;
}

export interface WorkspaceSettingsRow {
  merge_on?: ("email" | "phone")[];
  default_country?: string;
}

export interface ApiKeysTable {
  key_id: string;
  workspace_id: number;
  kind: "write" | "admin";
  key_hash: string;
  created_at: Generated<Date>;
  revoked_at: Timestamp | null;
}

/** A contact point a channel found not to work: the address as it was, why, when, and the message that found it. */
export interface UndeliverableAddress {
  address: string;
  reason: Undeliverable;
  at: string;
  message_id: string;
}

export interface CustomersTable {
  workspace_id: number;
  customer_id: ColumnType<string, string | number | bigint, never>;
  user_id: string | null;
  email: string | null;
  phone: string | null;
  telegram_chat_id: string | null;
  traits: ColumnType<Record<string, unknown>, string, string>;
  traits_updated_at: Timestamp | null;
  timezone: string | null;
  locale: string | null;
  consents: ColumnType<Record<string, { state: string; at: string }>, string, string>;
  preferred_channel: string | null;
  /** contact points found not to work, by contact kind (migration 017) */
  undeliverable: ColumnType<Record<string, UndeliverableAddress> | null, string, string>;
  orders: number;
  revenue: ColumnType<string, number | string, number | string>;
  first_order_at: Timestamp | null;
  last_order_at: Timestamp | null;
  first_seen_at: Timestamp | null;
  last_seen_at: Timestamp | null;
  created_at: Generated<Date>;
  updated_at: Generated<Date>;
}

export interface IdentitiesTable {
  workspace_id: number;
  kind: string;
  value: string;
  customer_id: ColumnType<string, string | number | bigint, string | number | bigint>;
  created_at: Generated<Date>;
}

export interface CustomerMergesTable {
  workspace_id: number;
  from_customer_id: ColumnType<string, string | number | bigint, string | number | bigint>;
  into_customer_id: ColumnType<string, string | number | bigint, string | number | bigint>;
  merged_at: Timestamp;
  reason: string;
}

export interface EventsTable {
  workspace_id: number;
  customer_id: ColumnType<string, string | number | bigint, string | number | bigint>;
  message_id: string;
  type: string;
  name: string | null;
  occurred_at: Timestamp;
  received_at: Timestamp;
  properties: ColumnType<Record<string, unknown>, string, string>;
  context: ColumnType<Record<string, unknown> | null, string | null, string | null>;
}

export interface SuppressionsTable {
  workspace_id: number;
  identifier_hash: string;
  created_at: Generated<Date>;
}

export interface AuditLogTable {
  audit_id: Generated<string>;
  workspace_id: number | null;
  at: Generated<Date>;
  actor: string;
  action: string;
  target: string | null;
  details: Json;
}

export interface ImportProgressTable {
  workspace_id: number;
  source_key: string;
  rows_done: ColumnType<string, number, number>;
  finished_at: Timestamp | null;
  updated_at: Generated<Date>;
}

export interface Database {
  workspaces: WorkspacesTable;
  api_keys: ApiKeysTable;
  customers: CustomersTable;
  identities: IdentitiesTable;
  customer_merges: CustomerMergesTable;
  events: EventsTable;
  suppressions: SuppressionsTable;
  audit_log: AuditLogTable;
  import_progress: ImportProgressTable;
}
