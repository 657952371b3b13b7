// Type-checked by `npm test` (tsc, never run): the document's example compiles against the
// generated types, and the wire's snake_case names do not.
import { TaskSchedulerClient, type Task, type TaskCreated } from "../src/index.js";

export async function documentsExample(): Promise<void> {
  const client = new TaskSchedulerClient({
    baseUrl: "https://api.example.com",
    apiKey: "your_api_key",
  });
  const task: TaskCreated = await client.createTask({
    taskName: "daily_report",
    taskType: "cron",
    scheduleExpression: "0 0 * * *",
    timezone: "America/New_York",
    payload: { reportType: "daily" },
  });
  const taskStatus: Task = await client.getTask(task.taskId);
  const next: string | null = taskStatus.nextExecutionTime;
  const executions = await client.getExecutions(task.taskId, { limit: 10 });
  executions.forEach((execution) => console.log(execution.executionId, execution.status, next));
  const execution = await client.triggerTask(task.taskId);
  console.log(execution.executionId, executions.total);
  await client.deleteTask(task.taskId);
}

export async function wireNamesAreNotTheSdks(client: TaskSchedulerClient): Promise<void> {
  // @ts-expect-error: the SDK takes camelCase
  await client.createTask({ task_name: "x", taskType: "cron" });
  // @ts-expect-error: a kind the API does not have
  await client.createTask({ taskName: "x", taskType: "weekly" });
  const task = await client.getTask("id");
  // @ts-expect-error: answers are camelCase
  console.log(task.task_id);
}
