// A client's use of the types openapi-typescript generates from the
// document (lint.sh): it must keep compiling, so the schemas and operations
// a TypeScript client names keep their names and shapes.
import type { components, paths } from "./openapi";

type Event = components["schemas"]["Event"];
type ErrorBody = components["schemas"]["Error"];

const pending: Event = {
  event_id: "0193a5c2-7e4b-7c1d-9f2a-5b8e3d6c4a10",
  created_at: "2025-11-10T12:00:00.123456Z",
  source: "billing",
  event_type: "invoice.paid",
  payload: {},
  status: "pending",
  metadata: { priority: "normal" },
  attempts: 0,
};

const acknowledged: Event = { ...pending, status: "acknowledged", acknowledged_at: "2025-11-10T12:00:01.000000Z" };

const notFound: ErrorBody = {
  error: { code: "NOT_FOUND", message: "event not found", details: {}, request_id: "r-1" },
};

type InboxPage = paths["/v1/inbox"]["get"]["responses"][200]["content"]["application/json"];
const firstEvents = (page: InboxPage): Event[] => page.events;

// A worker: receive under leases, then act on each lease by its id.
type Received = paths["/v1/inbox/receive"]["post"]["responses"][200]["content"]["application/json"];
type NackBody = components["schemas"]["NackEventRequest"];
const nacks = (r: Received): NackBody[] =>
  r.events.filter((e) => e.attempts > 1).map((e) => ({ lease_id: e.lease.lease_id, delay_seconds: 60 }));
const dead: Event = { ...pending, status: "dead", attempts: 10, dead_at: "2025-11-10T12:05:00.000000Z" };
const lost: components["schemas"]["ConflictReason"] = "lease_lost";

// A dashboard: the backlog not yet taken by a worker, the oldest event's
// time (null when nothing waits), the chart's points.
type Stats = paths["/v1/stats"]["get"]["responses"][200]["content"]["application/json"];
const available = (s: Stats): number => s.pending - s.leased;
const oldest = (s: Stats): string | null => s.oldest_pending_created_at;
const points = (s: Stats): [string, number, number][] => s.per_minute.map((m) => [m.minute, m.created, m.acknowledged]);
const sources = (s: Stats): string[] => s.by_source.map((b) => `${b.source}: ${b.pending}`);

export { acknowledged, notFound, firstEvents, nacks, dead, lost, available, oldest, points, sources };
