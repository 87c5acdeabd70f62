/**
 * Every recorded history in test/fixtures/histories must replay against the
 * current workflow code without a nondeterminism error: the guard that keeps
 * running orders alive across deploys. Re-record with `npm run record-histories`.
 */
import { readdirSync, readFileSync } from "node:fs";
import path from "node:path";
import { Resource } from "@opentelemetry/resources";
import { InMemorySpanExporter, SimpleSpanProcessor } from "@opentelemetry/sdk-trace-base";
import { historyFromJSON } from "@temporalio/common/lib/proto-utils.js";
import { makeWorkflowExporter } from "@temporalio/interceptors-opentelemetry";
import { Worker } from "@temporalio/worker";
import { describe, expect, inject, it } from "vitest";
import { payloadDataConverter } from "../../src/temporal/codec/data-converter.js";
import { readKeyringSetting } from "../../src/temporal/codec/keyring.js";
import { ensureWorkflowBundle } from "../../src/temporal/workflow-bundle.js";

const dir = path.resolve(import.meta.dirname, "../fixtures/histories");
const files = readdirSync(dir).filter((f) => f.endsWith(".json"));
const tracedBundle = ensureWorkflowBundle(
  path.resolve(import.meta.dirname, "../../.oms/cache"),
  undefined,
  {
    traced: true,
  },
);

describe("recorded workflow histories", () => {
  it("has fixtures to replay", () => {
    expect(files.length).toBeGreaterThan(0);
  });

  // The fixtures were recorded before payload encryption: a worker with the
  // encryption codec must replay them too (the codec passes plain payloads through).
  const encrypting = payloadDataConverter(
    readKeyringSetting(
      JSON.stringify({ activeKeyId: "k", keys: { k: Buffer.alloc(32).toString("base64") } }),
    ),
  );
  it.each(
    files.flatMap((file) => [
      [file, "without a codec"],
      [file, "with the encryption codec"],
    ]),
  )("%s replays deterministically %s", async (file, codec) => {
    const history = historyFromJSON(JSON.parse(readFileSync(path.join(dir, file), "utf8")));
    const results = Worker.runReplayHistories(
      {
        workflowBundle: { codePath: inject("workflowBundlePath") },
        ...(codec === "with the encryption codec" ? { dataConverter: encrypting } : {}),
      },
      [{ workflowId: path.basename(file, ".json"), history }],
    );
    for await (const result of results) {
      expect(result.error).toBeUndefined();
    }
  });

  // A worker with tracing on runs the bundle with OpenTelemetry's workflow
  // interceptors, so tracing can be switched on (or off) under running orders.
  it.each(files)("%s replays deterministically with the tracing interceptors", async (file) => {
    const history = historyFromJSON(JSON.parse(readFileSync(path.join(dir, file), "utf8")));
    const exporter = new InMemorySpanExporter();
    const results = Worker.runReplayHistories(
      {
        workflowBundle: { codePath: await tracedBundle },
        sinks: {
          exporter: makeWorkflowExporter(new SimpleSpanProcessor(exporter), new Resource({})),
        },
      },
      [{ workflowId: path.basename(file, ".json"), history }],
    );
    for await (const result of results) {
      expect(result.error).toBeUndefined();
    }
  });
});
