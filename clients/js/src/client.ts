// TaskSchedulerClient: the scheduler API (/api/v1) of a prsm_tasks edge, over `fetch` only.
import type {
  BulkCreated,
  BulkDeleted,
  CancelledExecution,
  CreateTaskInput,
  Dependency,
  DependencyCreated,
  DependencyInput,
  Execution,
  ExecutionLogs,
  ListTasksQuery,
  ListWithTotal,
  SystemStatus,
  Task,
  TaskCreated,
  TaskList,
  TaskPaused,
  TaskResumed,
  TaskStats,
  TaskSummary,
  TaskUpdated,
  TriggeredExecution,
  UpdateTaskInput,
  Worker,
} from "./types.js";
import { fromWire, segment, toWire } from "./wire.js";

export interface ClientOptions {
  /** The edge, e.g. `http://127.0.0.1:8080` (`prsm-tasks up` prints it). */
  baseUrl: string;
  /** Sent as the bearer token: a JWT from `prsm-tasks token`. */
  apiKey?: string;
  /** Per call (default 30 s). */
  timeoutMs?: number;
  /** Another fetch (a test double, a proxy agent); default: the global one. */
  fetch?: typeof fetch;
}

/** An error answer of the API (its standard body), or no answer at all. */
export class TaskSchedulerError extends Error {
  /** The API's error code (`task_not_found`, `validation_error`, ...). */
  readonly code: string;
  /** The HTTP status; 503 with code `service_unavailable` when the edge did not answer. */
  readonly status: number;
  /** For a validation error: the field that was refused. */
  readonly field?: string;
  readonly requestId?: string;
  /** The whole error body, camelCased. */
  readonly body: Record<string, unknown>;

  constructor(status: number, body: Record<string, unknown>, options?: { cause?: unknown }) {
    super(String(body.message ?? body.error ?? `HTTP ${status}`), options);
    this.name = "TaskSchedulerError";
    this.status = status;
    this.code = String(body.error ?? `http_${status}`);
    this.field = typeof body.field === "string" ? body.field : undefined;
    this.requestId = typeof body.requestId === "string" ? body.requestId : undefined;
    this.body = body;
  }
}

type Query = Record<string, string | number | string[] | undefined>;

const withTotal = <T>(items: T[], total: number): ListWithTotal<T> =>
  Object.assign(items, { total });

export class TaskSchedulerClient {
  readonly baseUrl: string;
  readonly #apiKey?: string;
  readonly #timeoutMs: number;
  readonly #fetch: typeof fetch;

  constructor(options: ClientOptions) {
    this.baseUrl = options.baseUrl.replace(/\/+$/, "");
    this.#apiKey = options.apiKey;
    this.#timeoutMs = options.timeoutMs ?? 30_000;
    this.#fetch = options.fetch ?? globalThis.fetch;
  }

  // --- tasks (the document's "task" is a schedule) ---------------------------------------

  async createTask(task: CreateTaskInput): Promise<TaskCreated> {
    return this.#call("POST", ["tasks"], { body: task });
  }

  async getTask(taskId: string): Promise<Task> {
    return this.#call("GET", ["tasks", taskId]);
  }

  /** One page, newest first. */
  async listTasks(query: ListTasksQuery = {}): Promise<TaskList> {
    const page = await this.#call<{
      tasks: TaskSummary[];
      total: number;
      limit: number;
      offset: number;
    }>("GET", ["tasks"], { query: { ...query } });
    return Object.assign(withTotal(page.tasks, page.total), {
      limit: page.limit,
      offset: page.offset,
    });
  }

  async updateTask(taskId: string, changes: UpdateTaskInput): Promise<TaskUpdated> {
    return this.#call("PATCH", ["tasks", taskId], { body: changes });
  }

  async deleteTask(taskId: string): Promise<void> {
    await this.#call("DELETE", ["tasks", taskId]);
  }

  async pauseTask(taskId: string): Promise<TaskPaused> {
    return this.#call("POST", ["tasks", taskId, "pause"]);
  }

  async resumeTask(taskId: string): Promise<TaskResumed> {
    return this.#call("POST", ["tasks", taskId, "resume"]);
  }

  async triggerTask(taskId: string): Promise<TriggeredExecution> {
    return this.#call("POST", ["tasks", taskId, "trigger"]);
  }

  // --- executions (one attempt of a run) -------------------------------------------------

  /** The attempts of the task's runs, newest first: an array with the server's `total`. */
  async getExecutions(
    taskId: string,
    options: { limit?: number; offset?: number } = {},
  ): Promise<ListWithTotal<Execution>> {
    const answer = await this.#call<{ executions: Execution[]; total: number }>(
      "GET",
      ["tasks", taskId, "executions"],
      { query: { limit: options.limit, offset: options.offset } },
    );
    return withTotal(answer.executions, answer.total);
  }

  async getExecution(executionId: string): Promise<Execution> {
    return this.#call("GET", ["executions", executionId]);
  }

  async getExecutionLogs(executionId: string): Promise<ExecutionLogs> {
    return this.#call("GET", ["executions", executionId, "logs"]);
  }

  async cancelExecution(executionId: string): Promise<CancelledExecution> {
    return this.#call("POST", ["executions", executionId, "cancel"]);
  }

  // --- dependencies ----------------------------------------------------------------------

  async addDependency(taskId: string, dependency: DependencyInput): Promise<DependencyCreated> {
    return this.#call("POST", ["tasks", taskId, "dependencies"], { body: dependency });
  }

  async listDependencies(taskId: string): Promise<Dependency[]> {
    const answer = await this.#call<{ dependencies: Dependency[] }>("GET", [
      "tasks",
      taskId,
      "dependencies",
    ]);
    return answer.dependencies;
  }

  async removeDependency(taskId: string, dependencyId: string): Promise<void> {
    await this.#call("DELETE", ["tasks", taskId, "dependencies", dependencyId]);
  }

  // --- bulk ------------------------------------------------------------------------------

  /** Each item succeeds or fails on its own: see `failed` and `errors`. */
  async bulkCreateTasks(tasks: CreateTaskInput[]): Promise<BulkCreated> {
    return this.#call("POST", ["tasks", "bulk"], { body: { tasks } });
  }

  async bulkDeleteTasks(taskIds: string[]): Promise<BulkDeleted> {
    return this.#call("POST", ["tasks", "bulk-delete"], { body: { taskIds } });
  }

  // --- monitoring ------------------------------------------------------------------------

  async getStatus(): Promise<SystemStatus> {
    return this.#call("GET", ["status"]);
  }

  async getTaskStats(taskId: string): Promise<TaskStats> {
    return this.#call("GET", ["tasks", taskId, "stats"]);
  }

  async getWorkers(): Promise<ListWithTotal<Worker>> {
    const answer = await this.#call<{ workers: Worker[]; total: number }>("GET", ["workers"]);
    return withTotal(answer.workers, answer.total);
  }

  // --- the transport ---------------------------------------------------------------------

  #url(segments: string[], query: Query = {}): string {
    const params = new URLSearchParams();
    for (const [key, value] of Object.entries(query)) {
      for (const item of Array.isArray(value) ? value : [value]) {
        if (item !== undefined) params.append(key, String(item));
      }
    }
    const search = params.toString();
    return `${this.baseUrl}/api/v1/${segments.map(segment).join("/")}${search ? `?${search}` : ""}`;
  }

  async #call<T>(
    method: string,
    segments: string[],
    options: { body?: unknown; query?: Query } = {},
  ): Promise<T> {
    const headers: Record<string, string> = { Accept: "application/json" };
    if (this.#apiKey) headers.Authorization = `Bearer ${this.#apiKey}`;
    if (options.body !== undefined) headers["Content-Type"] = "application/json";
    let response: Response;
    let text: string;
    try {
      response = await this.#fetch(this.#url(segments, options.query), {
        method,
        headers,
        body: options.body === undefined ? undefined : JSON.stringify(toWire(options.body)),
        signal: AbortSignal.timeout(this.#timeoutMs),
      });
      text = await response.text();
    } catch (cause) {
      const message = `cannot reach ${this.baseUrl}: ${String(cause)}`;
      throw new TaskSchedulerError(503, { error: "service_unavailable", message }, { cause });
    }
    const body = parse(text);
    if (!response.ok) {
      const error =
        body !== null && typeof body === "object" && "error" in body
          ? body
          : { message: text.slice(0, 200) };
      throw new TaskSchedulerError(response.status, fromWire(error));
    }
    return fromWire<T>(body);
  }
}

function parse(text: string): unknown {
  if (text === "") return undefined;
  try {
    return JSON.parse(text);
  } catch {
    return text;
  }
}
