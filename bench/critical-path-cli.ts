/**
 * npm run bench:critical-path -- <history.json>...: each history's chain of
 * workflow tasks and what it waited for (bench/critical-path.ts), from
 * histories saved as JSON (test/fixtures/histories, `temporal workflow show
 * --output json`). Reads files only; starts nothing.
 */
import { readFileSync } from "node:fs";
import { historyFromJSON } from "@temporalio/common/lib/proto-utils.js";
import { criticalPath, formatCriticalPath } from "./critical-path.js";

const files = process.argv.slice(2);
if (files.length === 0) {
  process.stderr.write("usage: npm run bench:critical-path -- <history.json>...\n");
  process.exit(2);
}
for (const file of files) {
  const history = historyFromJSON(JSON.parse(readFileSync(file, "utf8")));
  process.stdout.write(`${file}\n${formatCriticalPath(criticalPath(history.events ?? []))}\n\n`);
}
