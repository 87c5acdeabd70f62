/**
 * Typed outcomes the API maps to gRPC status codes (see src/api/errors.ts and
 * docs/errors.md). Each carries a stable UPPER_SNAKE reason and metadata that
 * callers may read from google.rpc.ErrorInfo.
 */
export abstract class DomainError extends Error {
  abstract readonly reason: string;
  readonly metadata: Record<string, string>;

  constructor(message: string, metadata: Record<string, string> = {}, options?: ErrorOptions) {
    super(message, options);
    this.name = new.target.name;
    this.metadata = metadata;
  }
}

export class OrderNotFoundError extends DomainError {
  readonly reason = "ORDER_NOT_FOUND";
  constructor(orderId: string) {
    super(`order "${orderId}" does not exist`, { order_id: orderId });
  }
}

/** The order id is taken by an order with different content. */
export class OrderConflictError extends DomainError {
  readonly reason = "ORDER_ID_CONFLICT";
  constructor(orderId: string) {
    super(
      `order "${orderId}" already exists with different content; submit it again unchanged, or use a new order_id`,
      { order_id: orderId },
    );
  }
}

/** The order is in a status where the request cannot apply. */
export class OrderStateError extends DomainError {
  readonly reason: string;
  constructor(reason: string, message: string, metadata: Record<string, string>) {
    super(message, metadata);
    this.reason = reason;
  }
}

/** A dependency (Temporal, the store) cannot be reached; the caller may retry. */
export class DependencyUnavailableError extends DomainError {
  readonly reason = "DEPENDENCY_UNAVAILABLE";
  constructor(dependency: string, options?: ErrorOptions) {
    super(`${dependency} is unavailable; retry later`, { dependency }, options);
  }
}

export class ShipmentNotFoundError extends DomainError {
  readonly reason = "SHIPMENT_NOT_FOUND";
  constructor(shipmentId: string) {
    super(`no order has a shipment "${shipmentId}"`, { shipment_id: shipmentId });
  }
}

export class ReturnNotFoundError extends DomainError {
  readonly reason = "RETURN_NOT_FOUND";
  constructor(orderId: string, returnId: string) {
    super(`order "${orderId}" has no return "${returnId}"`, {
      order_id: orderId,
      return_id: returnId,
    });
  }
}

/** ReleaseHold with a hold id the order does not have. */
export class HoldNotFoundError extends DomainError {
  readonly reason = "HOLD_NOT_FOUND";
  constructor(orderId: string, holdId: string) {
    super(`order "${orderId}" has no hold "${holdId}"`, { order_id: orderId, hold_id: holdId });
  }
}

/** An edit made against a version the order has moved past; read it again and retry. */
export class VersionMismatchError extends DomainError {
  readonly reason: string = "ORDER_VERSION_MISMATCH";
}

/** An edit of the order's items while another one is still applying (ABORTED too); retry. */
export class EditInProgressError extends VersionMismatchError {
  override readonly reason = "ORDER_EDIT_IN_PROGRESS";
}

/** A request field that passed the proto's rules but is still wrong (e.g. a forged page token). */
export class InvalidFieldError extends DomainError {
  readonly reason = "INVALID_REQUEST";
  constructor(
    readonly field: string,
    description: string,
  ) {
    super(`invalid request: ${field}: ${description}`, { field });
  }
}

/** Too many of something at once (e.g. WatchOrder streams); retry later. */
export class LimitExceededError extends DomainError {
  readonly reason = "LIMIT_EXCEEDED";
  constructor(what: string, limit: number) {
    super(`too many ${what} (limit ${limit}); retry later`, { limit: String(limit) });
  }
}

/** "FailedPrecondition" → "FAILED_PRECONDITION": gRPC code names as ErrorInfo reasons and failure types. */
export function upperSnake(name: string): string {
  return name.replace(/([a-z])([A-Z])/g, "$1_$2").toUpperCase();
}
