import { PassThrough } from "node:stream";
import { describe, expect, it } from "vitest";
import { collectRpcDurations } from "../../bench/access-log.js";
import { createLogger } from "../../src/cmd/logger.js";

const SUBMIT = "/oms.v1.OrderService/SubmitOrder";

describe("collectRpcDurations (the API's access log, read by the bench)", () => {
  it("reads one RPC's durations from lines cut anywhere across chunks, from a mark on", () => {
    const out = new PassThrough();
    const submits = collectRpcDurations(out, SUBMIT);
    const line = (rpc: string, ms: number) =>
      `${JSON.stringify({ level: 30, rpc, code: "OK", ms, principal: "anonymous", msg: "rpc" })}\n`;
    const text =
      line(SUBMIT, 4.2) +
      line("/oms.v1.OrderService/GetOrder", 1.1) +
      'not json, but names "rpc":"/oms.v1.OrderService/SubmitOrder"\n' +
      line(SUBMIT, 12.5);
    const cut = text.indexOf("12.5") + 2;
    out.write(text.slice(0, 7));
    out.write(text.slice(7, cut));
    expect(submits.since(0)).toEqual([4.2]);
    const mark = submits.count();
    out.write(text.slice(cut));
    out.write(line(SUBMIT, 30));
    expect(submits.since(0)).toEqual([4.2, 12.5, 30]);
    expect(submits.since(mark)).toEqual([12.5, 30]);
  });

  it("reads the lines the project's logger writes", async () => {
    const out = new PassThrough();
    const submits = collectRpcDurations(out, SUBMIT);
    const logger = createLogger({ logLevel: "info" }, "oms", out);
    logger.info({ rpc: SUBMIT, code: "OK", ms: 7.3, principal: "anonymous" }, "rpc");
    logger.info({ rpc: "/oms.v1.OrderService/GetOrder", code: "OK", ms: 2 }, "rpc");
    await new Promise((resolve) => setImmediate(resolve));
    expect(submits.since(0)).toEqual([7.3]);
  });
});
