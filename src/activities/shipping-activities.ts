import { Code, ConnectError } from "@connectrpc/connect";
import { ApplicationFailure } from "@temporalio/common";
import { ErrorInfoSchema } from "../../gen/google/rpc/error_details_pb.js";
import type { DownstreamClients } from "../clients/downstream.js";
import type { Address, LineItem } from "../domain/order.js";
import { WAREHOUSE_REJECTED } from "../domain/resourcing.js";
import { callDownstream, permanentFailureType } from "./failures.js";

export interface BookShipmentInput {
  orderId: string;
  fulfillmentId: string;
  warehouseId: string;
  address: Address;
  items: LineItem[];
}

/** A booking refused with ErrorInfo reason WAREHOUSE_REJECTED becomes a non-retryable WAREHOUSE_REJECTED. */
async function refuseRejectedWarehouse<T>(call: Promise<T>): Promise<T> {
  try {
    return await call;
  } catch (err) {
    if (err instanceof ConnectError && reasonOf(err) === WAREHOUSE_REJECTED) {
      throw ApplicationFailure.create({
        type: WAREHOUSE_REJECTED,
        message: `shipping: ${err.rawMessage}`,
        nonRetryable: true,
      });
    }
    throw err;
  }
}

function reasonOf(err: ConnectError): string | undefined {
  return err.findDetails(ErrorInfoSchema)[0]?.reason;
}

export function createShippingActivities(clients: Pick<DownstreamClients, "shipping">) {
  return {
    async bookShipment(
      input: BookShipmentInput,
    ): Promise<{ shipmentId: string; courierReference: string }> {
      const res = await callDownstream("shipping", (opts) =>
        refuseRejectedWarehouse(
          clients.shipping.bookShipment(
            {
              idempotencyKey: `${input.fulfillmentId}:book`,
              orderId: input.orderId,
              fulfillmentId: input.fulfillmentId,
              warehouseId: input.warehouseId,
              address: input.address,
              items: input.items.map((i) => ({ sku: i.sku, quantity: i.quantity })),
            },
            opts,
          ),
        ),
      );
      return { shipmentId: res.shipmentId, courierReference: res.courierReference };
    },

    /**
     * Cancels a booking. Resolves `false` when the courier has already picked
     * the parcel up (the shipment can no longer be cancelled).
     */
    async cancelShipment(input: { fulfillmentId: string; shipmentId: string }): Promise<boolean> {
      try {
        await callDownstream("shipping", (opts) =>
          clients.shipping.cancelShipment(
            {
              idempotencyKey: `${input.fulfillmentId}:cancel-shipment`,
              shipmentId: input.shipmentId,
            },
            opts,
          ),
        );
        return true;
      } catch (err) {
        if (
          err instanceof ApplicationFailure &&
          err.type === permanentFailureType(Code.FailedPrecondition)
        ) {
          return false;
        }
        throw err;
      }
    },
  };
}
