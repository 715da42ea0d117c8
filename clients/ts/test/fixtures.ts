// Payloads the fake-client tests push: typed by the generated modules, valid for the guards.
import { operation, ticket } from "../generated/index.js";

/** A `ticket:created` payload. */
export const TICKET: ticket.Created = {
  ticket: {
    id: "0f8fad5b-d9cb-469f-a165-70867728950e",
    tenant_id: "0f8fad5b-d9cb-469f-a165-70867728950e",
    title: "Broken chair",
    status: "open",
    priority: "normal",
    tags: [],
    created_by: "0f8fad5b-d9cb-469f-a165-70867728950e",
    participant_ids: [],
    created_at: "2026-12-01T00:00:00Z",
    updated_at: "2026-12-01T00:00:00Z",
  },
  actor_id: "0f8fad5b-d9cb-469f-a165-70867728950e",
};

const USER = "0f8fad5b-d9cb-469f-a165-70867728950e";

/** An `operation:progress` payload. */
export function progress(operation_id: string, percentage: number, message = `at ${percentage} %`): operation.Progress {
  return { operation_id, operation_type: "export_csv", user_id: USER, stage: "rows", percentage, message };
}

/** An `operation:complete` payload. */
export function complete(operation_id: string, refresh_tables: string[] = []): operation.Complete {
  return { operation_id, operation_type: "export_csv", user_id: USER, result: { rows: 42 }, refresh_tables };
}

/** An `operation:error` payload. */
export function failed(operation_id: string): operation.Failed {
  return { operation_id, operation_type: "export_csv", user_id: USER, error: { code: "disk_full", message: "no space left", retryable: true } };
}
