import type { DownstreamClients } from "../clients/downstream.js";
import type { Address, LineItem } from "../domain/order.js";
import { callDownstream } from "./failures.js";

/**
 * The downstream calls of returns. Every key is built from the return id and
 * the operation, so a retry after a crash, a timeout or a lost response is
 * the same operation to the service, which deduplicates it: one label, one
 * refund and one restock per return, ever.
 */
export function createReturnActivities(
  clients: Pick<DownstreamClients, "shipping" | "payments" | "inventory">,
) {
  return {
    /** Books the return label: the courier collects at `pickup` and brings the parcel to the warehouse. */
    async bookReturnLabel(input: {
      orderId: string;
      returnId: string;
      warehouseId: string;
      pickup: Address;
      lines: LineItem[];
    }): Promise<{ shipmentId: string; courierReference: string }> {
      const res = await callDownstream("shipping", (opts) =>
        clients.shipping.bookShipment(
          {
            idempotencyKey: `${input.returnId}:label`,
            orderId: input.orderId,
            fulfillmentId: input.returnId,
            warehouseId: input.warehouseId,
            address: input.pickup,
            items: input.lines.map((l) => ({ sku: l.sku, quantity: l.quantity })),
          },
          opts,
        ),
      );
      return { shipmentId: res.shipmentId, courierReference: res.courierReference };
    },

    /** Refunds one return: `<return_id>:refund`, so however often it runs, one refund. */
    async refundReturn(input: {
      returnId: string;
      authorizationId: string;
      amountMinor: number;
    }): Promise<{ refundedMinor: number }> {
      const res = await callDownstream("payments", (opts) =>
        clients.payments.refund(
          {
            idempotencyKey: `${input.returnId}:refund`,
            authorizationId: input.authorizationId,
            amountMinor: BigInt(input.amountMinor),
          },
          opts,
        ),
      );
      return { refundedMinor: Number(res.refundedMinor) };
    },

    /** Puts the returned units back into the warehouse's stock. */
    async restockReturn(input: {
      orderId: string;
      returnId: string;
      warehouseId: string;
      lines: LineItem[];
    }): Promise<void> {
      await callDownstream("inventory", (opts) =>
        clients.inventory.restock(
          {
            idempotencyKey: `${input.returnId}:restock`,
            orderId: input.orderId,
            warehouseId: input.warehouseId,
            lines: input.lines.map((l) => ({ sku: l.sku, quantity: l.quantity })),
          },
          opts,
        ),
      );
    },
  };
}
