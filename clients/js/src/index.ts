// task-scheduler-sdk: the scheduler API (/api/v1) of a prsm_tasks edge.
export { TaskSchedulerClient, TaskSchedulerError } from "./client.js";
export type { ClientOptions } from "./client.js";
export type * from "./types.js";
export type { Camelized, CamelCase } from "./wire.js";
export type { components, paths } from "./openapi.js";
