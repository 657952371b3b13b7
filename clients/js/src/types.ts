// The SDK's types: the edge's generated /openapi.json types (./openapi.ts) in camelCase. The
// routes that the edge does not serve yet (trigger, executions, logs, cancel, stats) are
// written by hand from the API document; they move to generated types when the routes land.
import type { components } from "./openapi.js";
import type { Camelized } from "./wire.js";

type Schemas = components["schemas"];

/** A list answer as an array, with the server's `total`. */
export type ListWithTotal<T> = T[] & { total: number };

export type CreateTaskInput = Camelized<Schemas["ScheduleCreate"]>;
export type UpdateTaskInput = Camelized<Schemas["ScheduleUpdate"]>;
export type TaskCreated = Camelized<Schemas["ScheduleCreated"]>;
export type Task = Camelized<Schemas["ScheduleItem"]>;
export type TaskSummary = Camelized<Schemas["ScheduleSummary"]>;
export type TaskList = ListWithTotal<TaskSummary> & { limit: number; offset: number };
export type TaskUpdated = Camelized<Schemas["ScheduleUpdated"]>;
export type TaskPaused = Camelized<Schemas["SchedulePaused"]>;
export type TaskResumed = Camelized<Schemas["ScheduleResumed"]>;
export type DependencyInput = Camelized<Schemas["DependencyCreate"]>;
export type DependencyCreated = Camelized<Schemas["DependencyCreated"]>;
export type Dependency = Camelized<Schemas["DependencyOut"]>;
export type BulkCreated = Camelized<Schemas["BulkCreated"]>;
export type BulkDeleted = Camelized<Schemas["BulkDeleted"]>;
export type SystemStatus = Camelized<Schemas["SystemStatus"]>;
export type Worker = Camelized<Schemas["Worker"]>;

export interface ListTasksQuery {
  status?: string;
  priority?: string;
  /** `key:value`; several must all match. */
  tag?: string | string[];
  limit?: number;
  offset?: number;
}

export interface TriggeredExecution {
  taskId: string;
  executionId: string;
  status: string;
  queuedAt: string;
}

/** One attempt of a run of a scheduled task. */
export interface Execution {
  executionId: string;
  taskId: string;
  workerId: string | null;
  startedAt: string | null;
  completedAt: string | null;
  durationMs: number | null;
  status: string;
  retryNumber: number;
  /** Execution detail only. */
  isRetry?: boolean;
  /** Execution detail only: what the handler returned. */
  result?: unknown;
}

export interface ExecutionLogs {
  executionId: string;
  logs: { timestamp: string; level: string; message: string }[];
}

export interface CancelledExecution {
  executionId: string;
  status: string;
  cancelledAt: string;
}

export interface TaskStats {
  taskId: string;
  totalExecutions: number;
  successfulExecutions: number;
  failedExecutions: number;
  successRate: number | null;
  averageDurationMs: number | null;
  p50DurationMs: number | null;
  p95DurationMs: number | null;
  p99DurationMs: number | null;
  last7Days: { executions: number; successRate: number | null };
}
