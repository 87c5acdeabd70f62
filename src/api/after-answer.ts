import { type ContextValues, createContextKey, type HandlerContext } from "@connectrpc/connect";
import type { ConnectNodeAdapterOptions } from "@connectrpc/connect-node";
import type { AfterAnswer } from "../temporal/workflow-starts.js";

type NodeServerRequest = Parameters<NonNullable<ConnectNodeAdapterOptions["contextValues"]>>[0];

/**
 * Set for HTTP/2 calls (gRPC, and Connect or gRPC-Web over h2): runs a
 * function when the call's stream closes, which is after its trailers have
 * been written to the socket. Work a handler leaves for later (SubmitOrder's
 * workflow start) waits for it, so the caller's answer never waits for that
 * work. Unset on HTTP/1.1, where the request ends before the answer.
 */
export const afterAnswerKey = createContextKey<AfterAnswer | undefined>(undefined, {
  description: "run a function once the call's answer is written",
});

export function afterAnswerOf(ctx: HandlerContext): AfterAnswer | undefined {
  return ctx.values.get(afterAnswerKey);
}

/** Adds {@link afterAnswerKey} to a call's context values, from its node request. */
export function withAfterAnswer(values: ContextValues, req: NodeServerRequest): ContextValues {
  if ("stream" in req) {
    const stream = req.stream;
    values.set(afterAnswerKey, (fn) => {
      if (stream.closed) fn();
      else stream.once("close", fn);
    });
  }
  return values;
}
