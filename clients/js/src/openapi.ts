// Generated from an edge's /openapi.json by `npm run generate -- <edge url>`: do not edit.
// A test compares it with a running edge's document.

export interface paths {
    "/api/v1/tasks": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        /** Your scheduled tasks (a tenant admin: the tenant's), newest first */
        get: operations["list_tasks"];
        put?: never;
        /** Create a scheduled task (cron, interval or one_time); next_execution_time in UTC */
        post: operations["create_task"];
        delete?: never;
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/api/v1/tasks/bulk": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        get?: never;
        put?: never;
        /** Create up to 500 scheduled tasks; each item succeeds or fails on its own */
        post: operations["bulk_create"];
        delete?: never;
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/api/v1/tasks/bulk-delete": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        get?: never;
        put?: never;
        /** Delete up to 500 scheduled tasks; each id succeeds or fails on its own */
        post: operations["bulk_delete"];
        delete?: never;
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/api/v1/tasks/{task_id}": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        /** One scheduled task */
        get: operations["get_task"];
        put?: never;
        post?: never;
        /** Delete a scheduled task (its pending timer goes; runs already made stay) */
        delete: operations["delete_task"];
        options?: never;
        head?: never;
        /** Change a scheduled task: answers the fields that changed and the next time */
        patch: operations["update_task"];
        trace?: never;
    };
    "/api/v1/tasks/{task_id}/pause": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        get?: never;
        put?: never;
        /** Pause a scheduled task */
        post: operations["pause_task"];
        delete?: never;
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/api/v1/tasks/{task_id}/resume": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        get?: never;
        put?: never;
        /** Resume a paused task: its next time from now */
        post: operations["resume_task"];
        delete?: never;
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/api/v1/tasks/{task_id}/trigger": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        get?: never;
        put?: never;
        /** Run a task now (also while paused): a run of its own, beside its due times */
        post: operations["trigger_task"];
        delete?: never;
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/api/v1/tasks/{task_id}/executions": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        /** The task's executions (one per attempt of each run still held), newest first */
        get: operations["list_executions"];
        put?: never;
        post?: never;
        delete?: never;
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/api/v1/tasks/{task_id}/stats": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        /** Execution counts, success rates and duration percentiles of the runs still held */
        get: operations["task_stats"];
        put?: never;
        post?: never;
        delete?: never;
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/api/v1/executions/{execution_id}": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        /** One execution, with its result */
        get: operations["get_execution"];
        put?: never;
        post?: never;
        delete?: never;
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/api/v1/executions/{execution_id}/logs": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        /** The lines the execution logged */
        get: operations["execution_logs"];
        put?: never;
        post?: never;
        delete?: never;
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/api/v1/executions/{execution_id}/cancel": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        get?: never;
        put?: never;
        /** Cancel the execution's run (its latest attempt); 409 when it is over */
        post: operations["cancel_execution"];
        delete?: never;
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/api/v1/tasks/{task_id}/dependencies": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        /** A task's dependencies */
        get: operations["list_dependencies"];
        put?: never;
        /** Make a task depend on another (success, completion, any); 409 for a cycle */
        post: operations["add_dependency"];
        delete?: never;
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/api/v1/tasks/{task_id}/dependencies/{dependency_id}": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        get?: never;
        put?: never;
        post?: never;
        /** Remove a dependency */
        delete: operations["remove_dependency"];
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/api/v1/status": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        /** How firing works, your scheduled and pending tasks, workers, queues by band, and tasks whose queue no node serves */
        get: operations["system_status"];
        put?: never;
        post?: never;
        delete?: never;
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/api/v1/workers": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        /** The peer nodes, from their adverts */
        get: operations["list_workers"];
        put?: never;
        post?: never;
        delete?: never;
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
}
export type webhooks = Record<string, never>;
export interface components {
    schemas: {
        /** BulkCreate */
        BulkCreate: {
            /** Tasks */
            tasks: {
                [key: string]: unknown;
            }[];
        };
        /** BulkCreated */
        BulkCreated: {
            /** Created */
            created: number;
            /** Failed */
            failed: number;
            /** Task Ids */
            task_ids: string[];
            /** Errors */
            errors: components["schemas"]["BulkItemError"][];
        };
        /** BulkDelete */
        BulkDelete: {
            /** Task Ids */
            task_ids: string[];
        };
        /** BulkDeleted */
        BulkDeleted: {
            /** Deleted */
            deleted: number;
            /** Failed */
            failed: number;
            /** Errors */
            errors: components["schemas"]["BulkItemError"][];
        };
        /** BulkItemError */
        BulkItemError: {
            /** Index */
            index: number;
            /** Error */
            error: string;
            /** Message */
            message: string;
            /** Field */
            field: string | null;
        };
        /** DependencyCreate */
        DependencyCreate: {
            /** Depends On Task Id */
            depends_on_task_id: string;
            /**
             * Dependency Type
             * @default success
             * @enum {string}
             */
            dependency_type?: "success" | "completion" | "any";
        };
        /** DependencyCreated */
        DependencyCreated: {
            /** Dependency Id */
            dependency_id: string;
            /** Task Id */
            task_id: string;
            /** Depends On Task Id */
            depends_on_task_id: string;
            /**
             * Dependency Type
             * @enum {string}
             */
            dependency_type: "success" | "completion" | "any";
        };
        /** DependencyList */
        DependencyList: {
            /** Dependencies */
            dependencies: components["schemas"]["DependencyOut"][];
        };
        /** DependencyOut */
        DependencyOut: {
            /** Dependency Id */
            dependency_id: string;
            /** Depends On Task Id */
            depends_on_task_id: string;
            /** Depends On Task Name */
            depends_on_task_name: string | null;
            /**
             * Dependency Type
             * @enum {string}
             */
            dependency_type: "success" | "completion" | "any";
        };
        /**
         * ErrorResponse
         * @description The one error body of every path.
         */
        ErrorResponse: {
            /**
             * Error
             * @description a stable code such as task_not_found
             */
            error: string;
            /** Message */
            message: string;
            /**
             * Code
             * @description the HTTP status
             */
            code: number;
            /**
             * Timestamp
             * Format: date-time
             */
            timestamp: string;
            /**
             * Task Id
             * @default null
             */
            task_id?: string | null;
            /**
             * Field
             * @description the request field at fault
             * @default null
             */
            field?: string | null;
            /**
             * Status
             * @description the task's status (409 answers)
             * @default null
             */
            status?: string | null;
            /** @default null */
            task_error?: components["schemas"]["TaskErrorInfo"] | null;
            /**
             * Errors
             * @description invalid_task_data: every failing field of the type's schema
             * @default null
             */
            errors?: components["schemas"]["FieldProblem"][] | null;
            /**
             * Retry After Seconds
             * @default null
             */
            retry_after_seconds?: number | null;
            /**
             * Request Id
             * @default null
             */
            request_id?: string | null;
            /**
             * Detail
             * @description under /api/ only: the message again (FastAPI's field)
             * @default null
             */
            detail?: string | null;
        };
        /** ExecutionCancelled */
        ExecutionCancelled: {
            /** Execution Id */
            execution_id: string;
            /** Status */
            status: string;
            /** Cancelled At */
            cancelled_at: string | null;
        };
        /** ExecutionDetail */
        ExecutionDetail: {
            /** Execution Id */
            execution_id: string;
            /** Task Id */
            task_id: string;
            /** Run Task Id */
            run_task_id: string;
            /** Worker Id */
            worker_id: string | null;
            /** Started At */
            started_at: string | null;
            /** Completed At */
            completed_at: string | null;
            /** Duration Ms */
            duration_ms: number | null;
            /** Status */
            status: string;
            /** Retry Number */
            retry_number: number;
            /** Is Retry */
            is_retry: boolean;
            /** Queued At */
            queued_at: string | null;
            /**
             * Waiting On
             * @default null
             */
            waiting_on?: components["schemas"]["WaitingOn"][] | null;
            /**
             * Result
             * @default null
             */
            result?: unknown;
            /**
             * Error
             * @default null
             */
            error?: {
                [key: string]: unknown;
            } | null;
        };
        /** ExecutionItem */
        ExecutionItem: {
            /** Execution Id */
            execution_id: string;
            /** Task Id */
            task_id: string;
            /** Run Task Id */
            run_task_id: string;
            /** Worker Id */
            worker_id: string | null;
            /** Started At */
            started_at: string | null;
            /** Completed At */
            completed_at: string | null;
            /** Duration Ms */
            duration_ms: number | null;
            /** Status */
            status: string;
            /** Retry Number */
            retry_number: number;
            /** Is Retry */
            is_retry: boolean;
            /** Queued At */
            queued_at: string | null;
            /**
             * Waiting On
             * @default null
             */
            waiting_on?: components["schemas"]["WaitingOn"][] | null;
        };
        /** ExecutionList */
        ExecutionList: {
            /** Executions */
            executions: components["schemas"]["ExecutionItem"][];
            /** Total */
            total: number;
        };
        /** ExecutionLogLine */
        ExecutionLogLine: {
            /** Timestamp */
            timestamp: string | null;
            /** Level */
            level: string;
            /** Message */
            message: string;
            /** Attempt */
            attempt: number;
        };
        /** ExecutionLogs */
        ExecutionLogs: {
            /** Execution Id */
            execution_id: string;
            /** Logs */
            logs: components["schemas"]["ExecutionLogLine"][];
        };
        /** FieldProblem */
        FieldProblem: {
            /**
             * Field
             * @description the path of the failing field, e.g. task_data.image.width
             */
            field: string;
            /** Message */
            message: string;
        };
        /** QueueBlock */
        QueueBlock: {
            /** Critical Priority */
            critical_priority: number;
            /** High Priority */
            high_priority: number;
            /** Medium Priority */
            medium_priority: number;
            /** Low Priority */
            low_priority: number;
        };
        /** RecentStats */
        RecentStats: {
            /** Executions */
            executions: number;
            /** Success Rate */
            success_rate: number | null;
        };
        /** ScheduleCreate */
        ScheduleCreate: {
            /**
             * Task Name
             * @description the schedule's name; without queue_name or handler_type it picks the task type of that name, else the queue of that name
             */
            task_name: string;
            /**
             * Task Type
             * @description cron, interval (every N seconds) or one_time
             * @enum {string}
             */
            task_type: "cron" | "interval" | "one_time";
            /**
             * Schedule Expression
             * @default null
             */
            schedule_expression?: string | null;
            /**
             * Timezone
             * @description an IANA time zone
             * @default UTC
             * @example UTC
             */
            timezone?: string;
            /**
             * Next Execution Time
             * @description one_time: when it runs; interval: its first run
             * @default null
             */
            next_execution_time?: string | null;
            /** Payload */
            payload?: {
                [key: string]: unknown;
            };
            /**
             * Timeout Seconds
             * @default 300
             */
            timeout_seconds?: number;
            /**
             * Max Retries
             * @default 3
             */
            max_retries?: number;
            /**
             * Priority
             * @default medium
             * @enum {string}
             */
            priority?: "low" | "medium" | "high" | "critical";
            /** Tags */
            tags?: {
                [key: string]: string;
            };
            /**
             * Enabled
             * @default true
             */
            enabled?: boolean;
            /**
             * Queue Name
             * @default null
             */
            queue_name?: string | null;
            /**
             * Handler Type
             * @default null
             */
            handler_type?: string | null;
            /**
             * Misfire Policy
             * @default run_once
             * @enum {string}
             */
            misfire_policy?: "run_once" | "skip" | "backfill";
            /**
             * Backfill Limit
             * @default 10
             */
            backfill_limit?: number;
        };
        /** ScheduleCreated */
        ScheduleCreated: {
            /** Task Id */
            task_id: string;
            /** Task Name */
            task_name: string;
            /**
             * Status
             * @enum {string}
             */
            status: "scheduled" | "paused" | "completed";
            /** Next Execution Time */
            next_execution_time: string | null;
            /**
             * Created At
             * Format: date-time
             */
            created_at: string;
        };
        /** ScheduleItem */
        ScheduleItem: {
            /** Task Id */
            task_id: string;
            /** Task Name */
            task_name: string;
            /**
             * Task Type
             * @enum {string}
             */
            task_type: "cron" | "interval" | "one_time";
            /** Schedule Expression */
            schedule_expression: string | null;
            /** Timezone */
            timezone: string;
            /** Next Execution Time */
            next_execution_time: string | null;
            /** Last Execution Time */
            last_execution_time: string | null;
            /**
             * Status
             * @enum {string}
             */
            status: "scheduled" | "paused" | "completed";
            /** Enabled */
            enabled: boolean;
            /** Payload */
            payload: {
                [key: string]: unknown;
            };
            /** Timeout Seconds */
            timeout_seconds: number;
            /** Max Retries */
            max_retries: number;
            /** Retry Count */
            retry_count: number;
            /**
             * Priority
             * @enum {string}
             */
            priority: "low" | "medium" | "high" | "critical";
            /** Tags */
            tags: {
                [key: string]: string;
            };
            /**
             * Created At
             * Format: date-time
             */
            created_at: string;
            /**
             * Updated At
             * Format: date-time
             */
            updated_at: string;
            /** Paused At */
            paused_at: string | null;
            /**
             * Queue Name
             * @description the queue its runs go to now (null: none)
             */
            queue_name: string | null;
            /** Handler Type */
            handler_type: string | null;
            /**
             * Misfire Policy
             * @enum {string}
             */
            misfire_policy: "run_once" | "skip" | "backfill";
            /** Backfill Limit */
            backfill_limit: number;
            /** Dependencies */
            dependencies: components["schemas"]["DependencyOut"][];
        };
        /** ScheduleList */
        ScheduleList: {
            /** Tasks */
            tasks: components["schemas"]["ScheduleSummary"][];
            /** Total */
            total: number;
            /** Limit */
            limit: number;
            /** Offset */
            offset: number;
        };
        /** SchedulePaused */
        SchedulePaused: {
            /** Task Id */
            task_id: string;
            /**
             * Status
             * @enum {string}
             */
            status: "scheduled" | "paused" | "completed";
            /** Paused At */
            paused_at: string | null;
        };
        /** ScheduleResumed */
        ScheduleResumed: {
            /** Task Id */
            task_id: string;
            /**
             * Status
             * @enum {string}
             */
            status: "scheduled" | "paused" | "completed";
            /** Next Execution Time */
            next_execution_time: string | null;
            /**
             * Resumed At
             * Format: date-time
             */
            resumed_at: string;
        };
        /** ScheduleSummary */
        ScheduleSummary: {
            /** Task Id */
            task_id: string;
            /** Task Name */
            task_name: string;
            /**
             * Task Type
             * @enum {string}
             */
            task_type: "cron" | "interval" | "one_time";
            /**
             * Status
             * @enum {string}
             */
            status: "scheduled" | "paused" | "completed";
            /**
             * Priority
             * @enum {string}
             */
            priority: "low" | "medium" | "high" | "critical";
            /** Tags */
            tags: {
                [key: string]: string;
            };
            /** Next Execution Time */
            next_execution_time: string | null;
        };
        /** ScheduleTriggered */
        ScheduleTriggered: {
            /** Task Id */
            task_id: string;
            /** Execution Id */
            execution_id: string;
            /**
             * Status
             * @constant
             */
            status: "queued";
            /**
             * Queued At
             * Format: date-time
             */
            queued_at: string;
        };
        /** ScheduleUpdate */
        ScheduleUpdate: {
            /**
             * Task Name
             * @default null
             */
            task_name?: string | null;
            /**
             * Task Type
             * @default null
             */
            task_type?: ("cron" | "interval" | "one_time") | null;
            /**
             * Schedule Expression
             * @default null
             */
            schedule_expression?: string | null;
            /**
             * Timezone
             * @default null
             */
            timezone?: string | null;
            /**
             * Next Execution Time
             * @default null
             */
            next_execution_time?: string | null;
            /**
             * Payload
             * @default null
             */
            payload?: {
                [key: string]: unknown;
            } | null;
            /**
             * Timeout Seconds
             * @default null
             */
            timeout_seconds?: number | null;
            /**
             * Max Retries
             * @default null
             */
            max_retries?: number | null;
            /**
             * Priority
             * @default null
             */
            priority?: ("low" | "medium" | "high" | "critical") | null;
            /**
             * Tags
             * @default null
             */
            tags?: {
                [key: string]: string;
            } | null;
            /**
             * Enabled
             * @default null
             */
            enabled?: boolean | null;
            /**
             * Queue Name
             * @default null
             */
            queue_name?: string | null;
            /**
             * Handler Type
             * @default null
             */
            handler_type?: string | null;
            /**
             * Misfire Policy
             * @default null
             */
            misfire_policy?: ("run_once" | "skip" | "backfill") | null;
            /**
             * Backfill Limit
             * @default null
             */
            backfill_limit?: number | null;
        };
        /** ScheduleUpdated */
        ScheduleUpdated: {
            /** Task Id */
            task_id: string;
            /** Updated Fields */
            updated_fields: string[];
            /** Next Execution Time */
            next_execution_time: string | null;
            /**
             * Updated At
             * Format: date-time
             */
            updated_at: string;
        };
        /** SchedulerBlock */
        SchedulerBlock: {
            /**
             * Leader
             * @description always null: firing has no leader
             */
            leader: string | null;
            /** Followers */
            followers: string[];
            /**
             * Mode
             * @constant
             */
            mode: "leaderless";
            /**
             * Firing
             * @description how a due time becomes a run
             */
            firing: string;
            /**
             * Converting Nodes
             * @description live peer nodes that convert fires
             */
            converting_nodes: string[];
            /** Tasks Scheduled */
            tasks_scheduled: number;
            /** Tasks Paused */
            tasks_paused: number;
            /**
             * Tasks Pending
             * @description your tasks queued or waiting to run
             */
            tasks_pending: number;
        };
        /** SystemStatus */
        SystemStatus: {
            /**
             * Status
             * @enum {string}
             */
            status: "healthy" | "degraded";
            scheduler: components["schemas"]["SchedulerBlock"];
            workers: components["schemas"]["WorkersBlock"];
            queue: components["schemas"]["QueueBlock"];
            /**
             * Unserved Tasks
             * @description enabled tasks whose queue no live node serves (workers may join later)
             */
            unserved_tasks: components["schemas"]["UnservedTask"][];
        };
        /** TaskErrorInfo */
        TaskErrorInfo: {
            /** Type */
            type: string;
            /** Message */
            message: string;
        };
        /** TaskStats */
        TaskStats: {
            /** Task Id */
            task_id: string;
            /** Total Executions */
            total_executions: number;
            /** Successful Executions */
            successful_executions: number;
            /** Failed Executions */
            failed_executions: number;
            /** Success Rate */
            success_rate: number | null;
            /** Average Duration Ms */
            average_duration_ms: number | null;
            /** P50 Duration Ms */
            p50_duration_ms: number | null;
            /** P95 Duration Ms */
            p95_duration_ms: number | null;
            /** P99 Duration Ms */
            p99_duration_ms: number | null;
            last_7_days: components["schemas"]["RecentStats"];
        };
        /** UnservedTask */
        UnservedTask: {
            /** Task Id */
            task_id: string;
            /** Task Name */
            task_name: string;
            /** Queue Name */
            queue_name: string | null;
        };
        /**
         * WaitingOn
         * @description A parent run a waiting execution waits for (an extension of the document).
         */
        WaitingOn: {
            /** Task Id */
            task_id: string | null;
            /** Run Task Id */
            run_task_id: string | null;
            /** Dependency Type */
            dependency_type: string | null;
        };
        /** Worker */
        Worker: {
            /** Worker Id */
            worker_id: string;
            /**
             * Status
             * @enum {string}
             */
            status: "active" | "inactive";
            /** Capacity */
            capacity: number;
            /** Current Load */
            current_load: number;
            /**
             * Last Heartbeat
             * Format: date-time
             */
            last_heartbeat: string;
            /** Uptime Seconds */
            uptime_seconds: number;
            /** Queues */
            queues: string[];
        };
        /** WorkerList */
        WorkerList: {
            /** Workers */
            workers: components["schemas"]["Worker"][];
            /** Total */
            total: number;
        };
        /** WorkersBlock */
        WorkersBlock: {
            /** Total */
            total: number;
            /** Active */
            active: number;
            /** Inactive */
            inactive: number;
            /** Total Capacity */
            total_capacity: number;
            /** Current Load */
            current_load: number;
        };
    };
    responses: never;
    parameters: never;
    requestBodies: never;
    headers: never;
    pathItems: never;
}
export type $defs = Record<string, never>;
export interface operations {
    list_tasks: {
        parameters: {
            query?: {
                status?: "completed" | "paused" | "scheduled";
                priority?: "critical" | "high" | "low" | "medium";
                limit?: number;
                offset?: number;
                /** @description key:value; repeat it to require several tags */
                tag?: string;
            };
            header?: never;
            path?: never;
            cookie?: never;
        };
        requestBody?: never;
        responses: {
            /** @description OK */
            200: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["ScheduleList"];
                };
            };
            /** @description Bad request: validation_error, invalid_task_data, queue_not_available */
            400: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["ErrorResponse"];
                };
            };
            /** @description unauthorized: missing, malformed, expired or wrongly signed bearer token */
            401: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["ErrorResponse"];
                };
            };
            /** @description internal_error: logged with the request id, never a stack trace */
            500: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["ErrorResponse"];
                };
            };
            /** @description service_unavailable (NATS unreachable) or worker_unavailable */
            503: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["ErrorResponse"];
                };
            };
        };
    };
    create_task: {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        requestBody: {
            content: {
                "application/json": components["schemas"]["ScheduleCreate"];
            };
        };
        responses: {
            /** @description Created */
            201: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["ScheduleCreated"];
                };
            };
            /** @description Bad request: validation_error, invalid_task_data, queue_not_available */
            400: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["ErrorResponse"];
                };
            };
            /** @description unauthorized: missing, malformed, expired or wrongly signed bearer token */
            401: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["ErrorResponse"];
                };
            };
            /** @description payload_too_large: the body is over the edge's limit */
            413: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["ErrorResponse"];
                };
            };
            /** @description rate_limited (see the Retry-After header, whole seconds), or a tenant quota: unfinished_task_limit, task_type_limit, queue_limit (`limit` names the setting) */
            429: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["ErrorResponse"];
                };
            };
            /** @description internal_error: logged with the request id, never a stack trace */
            500: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["ErrorResponse"];
                };
            };
            /** @description service_unavailable (NATS unreachable) or worker_unavailable */
            503: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["ErrorResponse"];
                };
            };
        };
    };
    bulk_create: {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        requestBody: {
            content: {
                "application/json": components["schemas"]["BulkCreate"];
            };
        };
        responses: {
            /** @description Created */
            201: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["BulkCreated"];
                };
            };
            /** @description Bad request: validation_error, invalid_task_data, queue_not_available */
            400: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["ErrorResponse"];
                };
            };
            /** @description unauthorized: missing, malformed, expired or wrongly signed bearer token */
            401: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["ErrorResponse"];
                };
            };
            /** @description payload_too_large: the body is over the edge's limit */
            413: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["ErrorResponse"];
                };
            };
            /** @description internal_error: logged with the request id, never a stack trace */
            500: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["ErrorResponse"];
                };
            };
            /** @description service_unavailable (NATS unreachable) or worker_unavailable */
            503: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["ErrorResponse"];
                };
            };
        };
    };
    bulk_delete: {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        requestBody: {
            content: {
                "application/json": components["schemas"]["BulkDelete"];
            };
        };
        responses: {
            /** @description OK */
            200: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["BulkDeleted"];
                };
            };
            /** @description Bad request: validation_error, invalid_task_data, queue_not_available */
            400: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["ErrorResponse"];
                };
            };
            /** @description unauthorized: missing, malformed, expired or wrongly signed bearer token */
            401: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["ErrorResponse"];
                };
            };
            /** @description payload_too_large: the body is over the edge's limit */
            413: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["ErrorResponse"];
                };
            };
            /** @description internal_error: logged with the request id, never a stack trace */
            500: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["ErrorResponse"];
                };
            };
            /** @description service_unavailable (NATS unreachable) or worker_unavailable */
            503: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["ErrorResponse"];
                };
            };
        };
    };
    get_task: {
        parameters: {
            query?: never;
            header?: never;
            path: {
                /** @description the schedule's id */
                task_id: string;
            };
            cookie?: never;
        };
        requestBody?: never;
        responses: {
            /** @description OK */
            200: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["ScheduleItem"];
                };
            };
            /** @description unauthorized: missing, malformed, expired or wrongly signed bearer token */
            401: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["ErrorResponse"];
                };
            };
            /** @description forbidden: the task belongs to another user of your tenant */
            403: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["ErrorResponse"];
                };
            };
            /** @description not found (task_not_found; another tenant's task is not revealed) */
            404: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["ErrorResponse"];
                };
            };
            /** @description internal_error: logged with the request id, never a stack trace */
            500: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["ErrorResponse"];
                };
            };
            /** @description service_unavailable (NATS unreachable) or worker_unavailable */
            503: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["ErrorResponse"];
                };
            };
        };
    };
    delete_task: {
        parameters: {
            query?: never;
            header?: never;
            path: {
                /** @description the schedule's id */
                task_id: string;
            };
            cookie?: never;
        };
        requestBody?: never;
        responses: {
            /** @description No Content */
            204: {
                headers: {
                    [name: string]: unknown;
                };
                content?: never;
            };
            /** @description unauthorized: missing, malformed, expired or wrongly signed bearer token */
            401: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["ErrorResponse"];
                };
            };
            /** @description forbidden: the task belongs to another user of your tenant */
            403: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["ErrorResponse"];
                };
            };
            /** @description not found (task_not_found; another tenant's task is not revealed) */
            404: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["ErrorResponse"];
                };
            };
            /** @description conflict: task_not_completed, task_already_finished, task_not_finished, illegal_transition, claim_lost or task_type_exists */
            409: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["ErrorResponse"];
                };
            };
            /** @description internal_error: logged with the request id, never a stack trace */
            500: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["ErrorResponse"];
                };
            };
            /** @description service_unavailable (NATS unreachable) or worker_unavailable */
            503: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["ErrorResponse"];
                };
            };
        };
    };
    update_task: {
        parameters: {
            query?: never;
            header?: never;
            path: {
                /** @description the schedule's id */
                task_id: string;
            };
            cookie?: never;
        };
        requestBody: {
            content: {
                "application/json": components["schemas"]["ScheduleUpdate"];
            };
        };
        responses: {
            /** @description OK */
            200: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["ScheduleUpdated"];
                };
            };
            /** @description Bad request: validation_error, invalid_task_data, queue_not_available */
            400: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["ErrorResponse"];
                };
            };
            /** @description unauthorized: missing, malformed, expired or wrongly signed bearer token */
            401: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["ErrorResponse"];
                };
            };
            /** @description forbidden: the task belongs to another user of your tenant */
            403: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["ErrorResponse"];
                };
            };
            /** @description not found (task_not_found; another tenant's task is not revealed) */
            404: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["ErrorResponse"];
                };
            };
            /** @description conflict: task_not_completed, task_already_finished, task_not_finished, illegal_transition, claim_lost or task_type_exists */
            409: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["ErrorResponse"];
                };
            };
            /** @description payload_too_large: the body is over the edge's limit */
            413: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["ErrorResponse"];
                };
            };
            /** @description internal_error: logged with the request id, never a stack trace */
            500: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["ErrorResponse"];
                };
            };
            /** @description service_unavailable (NATS unreachable) or worker_unavailable */
            503: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["ErrorResponse"];
                };
            };
        };
    };
    pause_task: {
        parameters: {
            query?: never;
            header?: never;
            path: {
                /** @description the schedule's id */
                task_id: string;
            };
            cookie?: never;
        };
        requestBody?: never;
        responses: {
            /** @description OK */
            200: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["SchedulePaused"];
                };
            };
            /** @description unauthorized: missing, malformed, expired or wrongly signed bearer token */
            401: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["ErrorResponse"];
                };
            };
            /** @description forbidden: the task belongs to another user of your tenant */
            403: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["ErrorResponse"];
                };
            };
            /** @description not found (task_not_found; another tenant's task is not revealed) */
            404: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["ErrorResponse"];
                };
            };
            /** @description conflict: task_not_completed, task_already_finished, task_not_finished, illegal_transition, claim_lost or task_type_exists */
            409: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["ErrorResponse"];
                };
            };
            /** @description internal_error: logged with the request id, never a stack trace */
            500: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["ErrorResponse"];
                };
            };
            /** @description service_unavailable (NATS unreachable) or worker_unavailable */
            503: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["ErrorResponse"];
                };
            };
        };
    };
    resume_task: {
        parameters: {
            query?: never;
            header?: never;
            path: {
                /** @description the schedule's id */
                task_id: string;
            };
            cookie?: never;
        };
        requestBody?: never;
        responses: {
            /** @description OK */
            200: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["ScheduleResumed"];
                };
            };
            /** @description unauthorized: missing, malformed, expired or wrongly signed bearer token */
            401: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["ErrorResponse"];
                };
            };
            /** @description forbidden: the task belongs to another user of your tenant */
            403: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["ErrorResponse"];
                };
            };
            /** @description not found (task_not_found; another tenant's task is not revealed) */
            404: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["ErrorResponse"];
                };
            };
            /** @description conflict: task_not_completed, task_already_finished, task_not_finished, illegal_transition, claim_lost or task_type_exists */
            409: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["ErrorResponse"];
                };
            };
            /** @description internal_error: logged with the request id, never a stack trace */
            500: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["ErrorResponse"];
                };
            };
            /** @description service_unavailable (NATS unreachable) or worker_unavailable */
            503: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["ErrorResponse"];
                };
            };
        };
    };
    trigger_task: {
        parameters: {
            query?: never;
            header?: never;
            path: {
                /** @description the schedule's id */
                task_id: string;
            };
            cookie?: never;
        };
        requestBody?: never;
        responses: {
            /** @description OK */
            202: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["ScheduleTriggered"];
                };
            };
            /** @description Bad request: validation_error, invalid_task_data, queue_not_available */
            400: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["ErrorResponse"];
                };
            };
            /** @description unauthorized: missing, malformed, expired or wrongly signed bearer token */
            401: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["ErrorResponse"];
                };
            };
            /** @description forbidden: the task belongs to another user of your tenant */
            403: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["ErrorResponse"];
                };
            };
            /** @description not found (task_not_found; another tenant's task is not revealed) */
            404: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["ErrorResponse"];
                };
            };
            /** @description internal_error: logged with the request id, never a stack trace */
            500: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["ErrorResponse"];
                };
            };
            /** @description service_unavailable (NATS unreachable) or worker_unavailable */
            503: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["ErrorResponse"];
                };
            };
        };
    };
    list_executions: {
        parameters: {
            query?: {
                limit?: number;
                /** @description executions to skip, newest first (an extension: page with limit and offset) */
                offset?: number;
            };
            header?: never;
            path: {
                /** @description the schedule's id */
                task_id: string;
            };
            cookie?: never;
        };
        requestBody?: never;
        responses: {
            /** @description OK */
            200: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["ExecutionList"];
                };
            };
            /** @description Bad request: validation_error, invalid_task_data, queue_not_available */
            400: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["ErrorResponse"];
                };
            };
            /** @description unauthorized: missing, malformed, expired or wrongly signed bearer token */
            401: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["ErrorResponse"];
                };
            };
            /** @description forbidden: the task belongs to another user of your tenant */
            403: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["ErrorResponse"];
                };
            };
            /** @description not found (task_not_found; another tenant's task is not revealed) */
            404: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["ErrorResponse"];
                };
            };
            /** @description internal_error: logged with the request id, never a stack trace */
            500: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["ErrorResponse"];
                };
            };
            /** @description service_unavailable (NATS unreachable) or worker_unavailable */
            503: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["ErrorResponse"];
                };
            };
        };
    };
    task_stats: {
        parameters: {
            query?: never;
            header?: never;
            path: {
                /** @description the schedule's id */
                task_id: string;
            };
            cookie?: never;
        };
        requestBody?: never;
        responses: {
            /** @description OK */
            200: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["TaskStats"];
                };
            };
            /** @description unauthorized: missing, malformed, expired or wrongly signed bearer token */
            401: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["ErrorResponse"];
                };
            };
            /** @description forbidden: the task belongs to another user of your tenant */
            403: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["ErrorResponse"];
                };
            };
            /** @description not found (task_not_found; another tenant's task is not revealed) */
            404: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["ErrorResponse"];
                };
            };
            /** @description internal_error: logged with the request id, never a stack trace */
            500: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["ErrorResponse"];
                };
            };
            /** @description service_unavailable (NATS unreachable) or worker_unavailable */
            503: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["ErrorResponse"];
                };
            };
        };
    };
    get_execution: {
        parameters: {
            query?: never;
            header?: never;
            path: {
                /** @description a run's task id and its attempt number */
                execution_id: string;
            };
            cookie?: never;
        };
        requestBody?: never;
        responses: {
            /** @description OK */
            200: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["ExecutionDetail"];
                };
            };
            /** @description unauthorized: missing, malformed, expired or wrongly signed bearer token */
            401: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["ErrorResponse"];
                };
            };
            /** @description forbidden: the task belongs to another user of your tenant */
            403: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["ErrorResponse"];
                };
            };
            /** @description not found (task_not_found; another tenant's task is not revealed) */
            404: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["ErrorResponse"];
                };
            };
            /** @description internal_error: logged with the request id, never a stack trace */
            500: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["ErrorResponse"];
                };
            };
            /** @description service_unavailable (NATS unreachable) or worker_unavailable */
            503: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["ErrorResponse"];
                };
            };
        };
    };
    execution_logs: {
        parameters: {
            query?: never;
            header?: never;
            path: {
                /** @description a run's task id and its attempt number */
                execution_id: string;
            };
            cookie?: never;
        };
        requestBody?: never;
        responses: {
            /** @description OK */
            200: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["ExecutionLogs"];
                };
            };
            /** @description unauthorized: missing, malformed, expired or wrongly signed bearer token */
            401: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["ErrorResponse"];
                };
            };
            /** @description forbidden: the task belongs to another user of your tenant */
            403: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["ErrorResponse"];
                };
            };
            /** @description not found (task_not_found; another tenant's task is not revealed) */
            404: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["ErrorResponse"];
                };
            };
            /** @description internal_error: logged with the request id, never a stack trace */
            500: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["ErrorResponse"];
                };
            };
            /** @description service_unavailable (NATS unreachable) or worker_unavailable */
            503: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["ErrorResponse"];
                };
            };
        };
    };
    cancel_execution: {
        parameters: {
            query?: never;
            header?: never;
            path: {
                /** @description a run's task id and its attempt number */
                execution_id: string;
            };
            cookie?: never;
        };
        requestBody?: never;
        responses: {
            /** @description OK */
            200: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["ExecutionCancelled"];
                };
            };
            /** @description unauthorized: missing, malformed, expired or wrongly signed bearer token */
            401: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["ErrorResponse"];
                };
            };
            /** @description forbidden: the task belongs to another user of your tenant */
            403: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["ErrorResponse"];
                };
            };
            /** @description not found (task_not_found; another tenant's task is not revealed) */
            404: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["ErrorResponse"];
                };
            };
            /** @description conflict: task_not_completed, task_already_finished, task_not_finished, illegal_transition, claim_lost or task_type_exists */
            409: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["ErrorResponse"];
                };
            };
            /** @description internal_error: logged with the request id, never a stack trace */
            500: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["ErrorResponse"];
                };
            };
            /** @description service_unavailable (NATS unreachable) or worker_unavailable */
            503: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["ErrorResponse"];
                };
            };
        };
    };
    list_dependencies: {
        parameters: {
            query?: never;
            header?: never;
            path: {
                /** @description the schedule's id */
                task_id: string;
            };
            cookie?: never;
        };
        requestBody?: never;
        responses: {
            /** @description OK */
            200: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["DependencyList"];
                };
            };
            /** @description unauthorized: missing, malformed, expired or wrongly signed bearer token */
            401: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["ErrorResponse"];
                };
            };
            /** @description forbidden: the task belongs to another user of your tenant */
            403: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["ErrorResponse"];
                };
            };
            /** @description not found (task_not_found; another tenant's task is not revealed) */
            404: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["ErrorResponse"];
                };
            };
            /** @description internal_error: logged with the request id, never a stack trace */
            500: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["ErrorResponse"];
                };
            };
            /** @description service_unavailable (NATS unreachable) or worker_unavailable */
            503: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["ErrorResponse"];
                };
            };
        };
    };
    add_dependency: {
        parameters: {
            query?: never;
            header?: never;
            path: {
                /** @description the schedule's id */
                task_id: string;
            };
            cookie?: never;
        };
        requestBody: {
            content: {
                "application/json": components["schemas"]["DependencyCreate"];
            };
        };
        responses: {
            /** @description Created */
            201: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["DependencyCreated"];
                };
            };
            /** @description Bad request: validation_error, invalid_task_data, queue_not_available */
            400: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["ErrorResponse"];
                };
            };
            /** @description unauthorized: missing, malformed, expired or wrongly signed bearer token */
            401: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["ErrorResponse"];
                };
            };
            /** @description forbidden: the task belongs to another user of your tenant */
            403: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["ErrorResponse"];
                };
            };
            /** @description not found (task_not_found; another tenant's task is not revealed) */
            404: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["ErrorResponse"];
                };
            };
            /** @description conflict: task_not_completed, task_already_finished, task_not_finished, illegal_transition, claim_lost or task_type_exists */
            409: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["ErrorResponse"];
                };
            };
            /** @description payload_too_large: the body is over the edge's limit */
            413: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["ErrorResponse"];
                };
            };
            /** @description internal_error: logged with the request id, never a stack trace */
            500: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["ErrorResponse"];
                };
            };
            /** @description service_unavailable (NATS unreachable) or worker_unavailable */
            503: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["ErrorResponse"];
                };
            };
        };
    };
    remove_dependency: {
        parameters: {
            query?: never;
            header?: never;
            path: {
                /** @description the schedule's id */
                task_id: string;
                dependency_id: string;
            };
            cookie?: never;
        };
        requestBody?: never;
        responses: {
            /** @description No Content */
            204: {
                headers: {
                    [name: string]: unknown;
                };
                content?: never;
            };
            /** @description unauthorized: missing, malformed, expired or wrongly signed bearer token */
            401: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["ErrorResponse"];
                };
            };
            /** @description forbidden: the task belongs to another user of your tenant */
            403: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["ErrorResponse"];
                };
            };
            /** @description not found (task_not_found; another tenant's task is not revealed) */
            404: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["ErrorResponse"];
                };
            };
            /** @description conflict: task_not_completed, task_already_finished, task_not_finished, illegal_transition, claim_lost or task_type_exists */
            409: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["ErrorResponse"];
                };
            };
            /** @description internal_error: logged with the request id, never a stack trace */
            500: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["ErrorResponse"];
                };
            };
            /** @description service_unavailable (NATS unreachable) or worker_unavailable */
            503: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["ErrorResponse"];
                };
            };
        };
    };
    system_status: {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        requestBody?: never;
        responses: {
            /** @description OK */
            200: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["SystemStatus"];
                };
            };
            /** @description unauthorized: missing, malformed, expired or wrongly signed bearer token */
            401: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["ErrorResponse"];
                };
            };
            /** @description internal_error: logged with the request id, never a stack trace */
            500: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["ErrorResponse"];
                };
            };
            /** @description service_unavailable (NATS unreachable) or worker_unavailable */
            503: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["ErrorResponse"];
                };
            };
        };
    };
    list_workers: {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        requestBody?: never;
        responses: {
            /** @description OK */
            200: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["WorkerList"];
                };
            };
            /** @description unauthorized: missing, malformed, expired or wrongly signed bearer token */
            401: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["ErrorResponse"];
                };
            };
            /** @description internal_error: logged with the request id, never a stack trace */
            500: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["ErrorResponse"];
                };
            };
            /** @description service_unavailable (NATS unreachable) or worker_unavailable */
            503: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["ErrorResponse"];
                };
            };
        };
    };
}
