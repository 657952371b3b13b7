// camelCase in, snake_case on the wire, camelCase out. The values of `payload`, `tags` and
// `result` are the caller's own data: they travel as they are, keys untouched, so a handler
// receives exactly the payload it was given.

/** `next_execution_time` -> `nextExecutionTime`, as a type. */
export type CamelCase<S extends string> = S extends `${infer Head}_${infer Tail}`
  ? `${Head}${Capitalize<CamelCase<Tail>>}`
  : S;

const OPAQUE = new Set(["payload", "tags", "result"]);
type Opaque = "payload" | "tags" | "result";

/** A wire type with its field names in camelCase, all the way down (opaque data aside). */
export type Camelized<T> = T extends readonly (infer Item)[]
  ? Camelized<Item>[]
  : T extends object
    ? {
        [K in keyof T as K extends string ? CamelCase<K> : K]: K extends Opaque
          ? T[K]
          : Camelized<T[K]>;
      }
    : T;

const toSnake = (key: string): string => key.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`);
const toCamel = (key: string): string =>
  key.replace(/_([a-z0-9])/g, (_, c: string) => c.toUpperCase());

function renamed(value: unknown, rename: (key: string) => string): unknown {
  if (Array.isArray(value)) return value.map((item) => renamed(item, rename));
  if (value === null || typeof value !== "object") return value;
  return Object.fromEntries(
    Object.entries(value).map(([key, inner]) => {
      const name = rename(key);
      return [name, OPAQUE.has(name) ? inner : renamed(inner, rename)];
    }),
  );
}

/** A request body as the API reads it (`taskName` -> `task_name`). */
export const toWire = (value: unknown): unknown => renamed(value, toSnake);

/** An answer as the SDK returns it (`task_id` -> `taskId`). */
export const fromWire = <T>(value: unknown): T => renamed(value, toCamel) as T;

/** An id as one path segment: a `/`, `?` or `..` in it cannot reach another route. */
export function segment(id: string): string {
  const text = String(id);
  return /^\.*$/.test(text) ? text.replaceAll(".", "%2E") : encodeURIComponent(text);
}
