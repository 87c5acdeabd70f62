import { randomUUID } from "node:crypto";
import { create, type MessageInitShape } from "@bufbuild/protobuf";
import {
  type SubmitOrderRequest,
  SubmitOrderRequestSchema,
} from "../../gen/oms/v1/order_service_pb.js";

/** A valid SubmitOrderRequest with a fresh order id; override any field. */
export function orderRequest(
  overrides: Partial<MessageInitShape<typeof SubmitOrderRequestSchema>> = {},
): SubmitOrderRequest {
  const defaults: MessageInitShape<typeof SubmitOrderRequestSchema> = {
    orderId: `order-${randomUUID()}`,
    customerId: "customer-1",
    currencyCode: "USD",
    items: [
      { sku: "SKU-1", quantity: 2, unitPriceMinor: 1250n },
      { sku: "SKU-2", quantity: 1, unitPriceMinor: 999n },
    ],
    shippingAddress: {
      name: "Ada Lovelace",
      line1: "12 Analytical Row",
      city: "London",
      postalCode: "N1 9GU",
      countryCode: "GB",
    },
  };
  return create(SubmitOrderRequestSchema, { ...defaults, ...overrides } as MessageInitShape<
    typeof SubmitOrderRequestSchema
  >);
}

/** An order that ships from two warehouses: SKU-* from wh-east, KEYBOARD-MX only from wh-west. */
export function twoWarehouses(customerId = "customer-1"): SubmitOrderRequest {
  return orderRequest({
    customerId,
    items: [
      { sku: "SKU-100", quantity: 2, unitPriceMinor: 1250n },
      { sku: "KEYBOARD-MX", quantity: 1, unitPriceMinor: 8900n },
    ],
  });
}
