// The TypeScript types of the scheduler API, rendered from an edge's /openapi.json: only the
// /api/v1 routes and the schemas they reach, so other surfaces' changes do not touch them.
import openapiTS, { astToString } from "openapi-typescript";

export const HEADER =
  "// Generated from an edge's /openapi.json by `npm run generate -- <edge url>`: do not edit.\n" +
  "// A test compares it with a running edge's document.\n\n";

function refsIn(node, found) {
  if (Array.isArray(node)) {
    node.forEach((item) => refsIn(item, found));
  } else if (node && typeof node === "object") {
    for (const [key, value] of Object.entries(node)) {
      if (key === "$ref" && typeof value === "string") found.add(value.split("/").pop());
      else refsIn(value, found);
    }
  }
  return found;
}

/** The document with the scheduler's paths only, and the schemas those reach. */
export function schedulerDocument(doc) {
  const paths = Object.fromEntries(
    Object.entries(doc.paths).filter(([path]) => path.startsWith("/api/v1/")),
  );
  const all = doc.components?.schemas ?? {};
  const keep = new Set();
  const pending = [...refsIn(paths, new Set())];
  while (pending.length > 0) {
    const name = pending.pop();
    if (keep.has(name) || !(name in all)) continue;
    keep.add(name);
    pending.push(...refsIn(all[name], new Set()));
  }
  const schemas = Object.fromEntries([...keep].sort().map((name) => [name, all[name]]));
  return { ...doc, paths, components: { ...doc.components, schemas } };
}

/** The contents of src/openapi.ts for this /openapi.json document. */
export async function renderTypes(doc) {
  // defaultNonNullable off: a field with a default may be left out of a request
  return (
    HEADER + astToString(await openapiTS(schedulerDocument(doc), { defaultNonNullable: false }))
  );
}

/** The /openapi.json of the edge at baseUrl. */
export async function fetchDocument(baseUrl) {
  const response = await fetch(new URL("/openapi.json", baseUrl), {
    signal: AbortSignal.timeout(30_000),
  });
  if (!response.ok) throw new Error(`${baseUrl}/openapi.json answered ${response.status}`);
  return response.json();
}
