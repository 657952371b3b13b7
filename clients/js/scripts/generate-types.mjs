// Regenerate src/openapi.ts from a running edge: `npm run generate -- http://127.0.0.1:8080`
// (or PRSM_EDGE_URL). `prsm-tasks up` prints its edge's URL.
import { writeFile } from "node:fs/promises";
import { fetchDocument, renderTypes } from "./openapi-types.mjs";

const baseUrl = process.argv[2] ?? process.env.PRSM_EDGE_URL;
if (!baseUrl) {
  console.error("usage: npm run generate -- <edge url>   (or set PRSM_EDGE_URL)");
  process.exit(2);
}
const target = new URL("../src/openapi.ts", import.meta.url);
await writeFile(target, await renderTypes(await fetchDocument(baseUrl)));
console.log(`wrote ${target.pathname}`);
