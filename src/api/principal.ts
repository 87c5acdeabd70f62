import { createContextKey, type HandlerContext } from "@connectrpc/connect";

/**
 * The authenticated caller of a request. Authentication (mTLS, bearer tokens;
 * docs/spec.md section 7) sets it in an interceptor; until then every caller is
 * "anonymous", and that is what timelines record.
 */
export const principalKey = createContextKey<string>("anonymous", {
  description: "authenticated principal",
});

export function principalOf(ctx: HandlerContext): string {
  return ctx.values.get(principalKey);
}
