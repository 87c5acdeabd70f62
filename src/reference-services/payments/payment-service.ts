import type { MessageInitShape } from "@bufbuild/protobuf";
import { timestampFromDate } from "@bufbuild/protobuf/wkt";
import type { ServiceImpl } from "@connectrpc/connect";
import { Code } from "@connectrpc/connect";
import {
  AuthorizationDecision,
  type AuthorizationSchema,
  AuthorizationStatus,
  AuthorizeRequestSchema,
  CaptureRequestSchema,
  DeclineReason,
  type LedgerEntrySchema,
  LedgerOperation,
  type PaymentService,
  RefundRequestSchema,
  VoidRequestSchema,
} from "../../../gen/payments/v1/payment_service_pb.js";
import { createServiceError } from "../errors.js";
import { createIdempotencyStore, requestFingerprint } from "../idempotency.js";
import { stateOf } from "../state.js";
import type { AuthorizationRecord, LedgerEntryRecord, PaymentStore } from "./payment-store.js";

/** Options of {@link createPaymentService}. */
export interface PaymentServiceOptions {
  /** Authorizations and ledger the handlers work on. */
  store: PaymentStore;
}

/**
 * Handlers of `payments.v1.PaymentService` over a {@link PaymentStore}.
 * Authorize, Capture, Void and Refund are deduplicated by idempotency key, so
 * a retried call never moves money twice.
 */
export function createPaymentService(
  options: PaymentServiceOptions,
): ServiceImpl<typeof PaymentService> {
  const { store } = options;
  const idempotency = createIdempotencyStore("payments.v1.PaymentService", stateOf(store));
  return {
    authorize(request) {
      return idempotency.run(
        request.idempotencyKey,
        requestFingerprint("Authorize", AuthorizeRequestSchema, request),
        () => {
          const auth = store.authorize({
            idempotencyKey: request.idempotencyKey,
            customerId: request.customerId,
            orderId: request.orderId,
            fulfillmentId: request.fulfillmentId,
            amountMinor: request.amountMinor,
            currencyCode: request.currencyCode,
            fraudReviewApproved: request.fraudReviewApproved,
          });
          const declined = auth.status === "DECLINED";
          return {
            authorizationId: auth.authorizationId,
            decision: declined ? AuthorizationDecision.DECLINED : AuthorizationDecision.APPROVED,
            declineReason: toDeclineReason(auth),
            declineMessage: auth.declineMessage,
            authorization: toAuthorization(auth),
          };
        },
      );
    },
    capture(request) {
      return idempotency.run(
        request.idempotencyKey,
        requestFingerprint("Capture", CaptureRequestSchema, request),
        () => ({
          authorization: toAuthorization(
            store.capture(request.idempotencyKey, request.authorizationId, request.amountMinor),
          ),
        }),
      );
    },
    void(request) {
      return idempotency.run(
        request.idempotencyKey,
        requestFingerprint("Void", VoidRequestSchema, request),
        () => ({
          authorization: toAuthorization(
            store.void(request.idempotencyKey, request.authorizationId),
          ),
        }),
      );
    },
    refund(request) {
      return idempotency.run(
        request.idempotencyKey,
        requestFingerprint("Refund", RefundRequestSchema, request),
        () => {
          const { authorization, refundedMinor } = store.refund(
            request.idempotencyKey,
            request.authorizationId,
            request.amountMinor,
          );
          return { authorization: toAuthorization(authorization), refundedMinor };
        },
      );
    },
    getAuthorization(request) {
      const auth = store.get(request.authorizationId);
      if (auth === undefined) {
        throw createServiceError(
          Code.NotFound,
          "payments.v1.PaymentService",
          "AUTHORIZATION_NOT_FOUND",
          `authorization "${request.authorizationId}" does not exist`,
          { authorization_id: request.authorizationId },
        );
      }
      return { authorization: toAuthorization(auth) };
    },
    listLedger(request) {
      return {
        entries: store
          .ledger({
            orderId: request.orderId,
            customerId: request.customerId,
            authorizationId: request.authorizationId,
          })
          .map(toLedgerEntry),
      };
    },
  };
}

const STATUS: Record<AuthorizationRecord["status"], AuthorizationStatus> = {
  AUTHORIZED: AuthorizationStatus.AUTHORIZED,
  CAPTURED: AuthorizationStatus.CAPTURED,
  VOIDED: AuthorizationStatus.VOIDED,
  REFUNDED: AuthorizationStatus.REFUNDED,
  DECLINED: AuthorizationStatus.DECLINED,
};

const OPERATION: Record<LedgerEntryRecord["operation"], LedgerOperation> = {
  AUTHORIZE: LedgerOperation.AUTHORIZE,
  DECLINE: LedgerOperation.DECLINE,
  CAPTURE: LedgerOperation.CAPTURE,
  VOID: LedgerOperation.VOID,
  REFUND: LedgerOperation.REFUND,
};

function toDeclineReason(auth: AuthorizationRecord): DeclineReason {
  switch (auth.declineReason) {
    case "CARD_DECLINED":
      return DeclineReason.CARD_DECLINED;
    case "SPENDING_LIMIT_EXCEEDED":
      return DeclineReason.SPENDING_LIMIT_EXCEEDED;
    default:
      return DeclineReason.UNSPECIFIED;
  }
}

function toAuthorization(auth: AuthorizationRecord): MessageInitShape<typeof AuthorizationSchema> {
  return {
    authorizationId: auth.authorizationId,
    customerId: auth.customerId,
    orderId: auth.orderId,
    fulfillmentId: auth.fulfillmentId,
    currencyCode: auth.currencyCode,
    status: STATUS[auth.status],
    authorizedMinor: auth.authorizedMinor,
    capturedMinor: auth.capturedMinor,
    refundedMinor: auth.refundedMinor,
    declineReason: toDeclineReason(auth),
    declineMessage: auth.declineMessage,
    createTime: timestampFromDate(auth.createTime),
    updateTime: timestampFromDate(auth.updateTime),
    ...(auth.expireTime ? { expireTime: timestampFromDate(auth.expireTime) } : {}),
  };
}

function toLedgerEntry(entry: LedgerEntryRecord): MessageInitShape<typeof LedgerEntrySchema> {
  return {
    entryId: entry.entryId,
    operation: OPERATION[entry.operation],
    idempotencyKey: entry.idempotencyKey,
    authorizationId: entry.authorizationId,
    customerId: entry.customerId,
    orderId: entry.orderId,
    fulfillmentId: entry.fulfillmentId,
    amountMinor: entry.amountMinor,
    currencyCode: entry.currencyCode,
    createTime: timestampFromDate(entry.createTime),
  };
}
