import { timestampDate } from "@bufbuild/protobuf/wkt";
import { AuthorizationDecision, DeclineReason } from "../../gen/payments/v1/payment_service_pb.js";
import type { DownstreamClients } from "../clients/downstream.js";
import { renewalKey } from "../domain/reauthorization.js";
import { callDownstream } from "./failures.js";

export interface AuthorizeInput {
  orderId: string;
  fulfillmentId: string;
  customerId: string;
  currencyCode: string;
  amountMinor: number;
  /**
   * Set when the order's FRAUD_REVIEW hold with this id was released: the
   * authorization is asked again under its own idempotency key, with the
   * review's approval (the spending limit is not checked).
   */
  fraudReviewHoldId?: string;
  /**
   * Set when this renews the fulfillment's authorization before it expires:
   * the renewal's generation (1, 2, …), which makes its idempotency key.
   */
  renewal?: number;
  /**
   * Set when UpdateOrderItems raised the fulfillment's total above what it
   * holds: the edit's id, which makes the idempotency key.
   */
  edit?: string;
}

export type AuthorizeResult =
  | {
      approved: true;
      authorizationId: string;
      /**
       * When the authorization expires (ISO 8601); absent when the payment
       * service sets no expiry, and in results recorded before it existed.
       */
      expireTime?: string;
    }
  | {
      approved: false;
      authorizationId: string;
      declineReason: string;
      /** Why, as a code (absent in results recorded before it existed). */
      declineCode?: DeclineCode;
    };

/** The payment service's decline reasons the order workflow tells apart. */
export type DeclineCode = "CARD_DECLINED" | "SPENDING_LIMIT_EXCEEDED" | "UNSPECIFIED";

/**
 * Money movement. Every call carries a key derived from the fulfillment and
 * the operation, never a random one: a retry after a crash, a timeout or a
 * lost response is the same operation to the payment service, which
 * deduplicates it, so nothing is charged twice.
 */
export function createPaymentActivities(clients: Pick<DownstreamClients, "payments">) {
  const key = (fulfillmentId: string, op: string) => `${fulfillmentId}:${op}`;
  return {
    async authorizePayment(input: AuthorizeInput): Promise<AuthorizeResult> {
      const res = await callDownstream("payments", (opts) =>
        clients.payments.authorize(
          {
            idempotencyKey: input.edit
              ? key(input.fulfillmentId, `authorize:${input.edit}`)
              : input.renewal
                ? key(input.fulfillmentId, `authorize:${renewalKey(input.renewal)}`)
                : input.fraudReviewHoldId
                  ? key(input.fulfillmentId, `authorize:${input.fraudReviewHoldId}`)
                  : key(input.fulfillmentId, "authorize"),
            customerId: input.customerId,
            orderId: input.orderId,
            fulfillmentId: input.fulfillmentId,
            amountMinor: BigInt(input.amountMinor),
            currencyCode: input.currencyCode,
            fraudReviewApproved: input.fraudReviewHoldId !== undefined,
          },
          opts,
        ),
      );
      if (res.decision === AuthorizationDecision.APPROVED) {
        const expireTime = res.authorization?.expireTime;
        return {
          approved: true,
          authorizationId: res.authorizationId,
          ...(expireTime ? { expireTime: timestampDate(expireTime).toISOString() } : {}),
        };
      }
      const reason =
        res.declineMessage || DeclineReason[res.declineReason].toLowerCase().replaceAll("_", " ");
      const declineCode: DeclineCode =
        res.declineReason === DeclineReason.SPENDING_LIMIT_EXCEEDED
          ? "SPENDING_LIMIT_EXCEEDED"
          : res.declineReason === DeclineReason.CARD_DECLINED
            ? "CARD_DECLINED"
            : "UNSPECIFIED";
      return {
        approved: false,
        authorizationId: res.authorizationId,
        declineReason: reason,
        declineCode,
      };
    },

    async capturePayment(input: {
      fulfillmentId: string;
      authorizationId: string;
      amountMinor: number;
    }) {
      await callDownstream("payments", (opts) =>
        clients.payments.capture(
          {
            idempotencyKey: key(input.fulfillmentId, "capture"),
            authorizationId: input.authorizationId,
            amountMinor: BigInt(input.amountMinor),
          },
          opts,
        ),
      );
    },

    /**
     * `renewal`: voids the authorization that renewal generation replaced;
     * `edit`: the one that UpdateOrderItems edit replaced (or made, if the edit failed).
     */
    async voidPayment(input: {
      fulfillmentId: string;
      authorizationId: string;
      renewal?: number;
      edit?: string;
    }) {
      await callDownstream("payments", (opts) =>
        clients.payments.void(
          {
            idempotencyKey: input.edit
              ? key(input.fulfillmentId, `void:${input.edit}`)
              : input.renewal
                ? key(input.fulfillmentId, `void:${renewalKey(input.renewal)}`)
                : key(input.fulfillmentId, "void"),
            authorizationId: input.authorizationId,
          },
          opts,
        ),
      );
    },

    async refundPayment(input: {
      fulfillmentId: string;
      authorizationId: string;
      amountMinor: number;
    }) {
      await callDownstream("payments", (opts) =>
        clients.payments.refund(
          {
            idempotencyKey: key(input.fulfillmentId, "refund"),
            authorizationId: input.authorizationId,
            amountMinor: BigInt(input.amountMinor),
          },
          opts,
        ),
      );
    },
  };
}
