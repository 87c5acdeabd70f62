// Setup file (every test file): the Temporal SDK logs worker state changes at
// INFO; tests want only its warnings and errors.
import { DefaultLogger, Runtime } from "@temporalio/worker";

try {
  Runtime.install({ logger: new DefaultLogger("WARN") });
} catch {
  // Already installed in this process by an earlier test file.
}
