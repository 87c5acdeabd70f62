/**
 * The reference services part (`oms reference-services`, and `oms dev`'s):
 * only what the reference services need, so that `oms reference-services`
 * does not load the worker's modules (the Temporal core bridge, activities,
 * read model) it never runs.
 */
import { timestampFromDate } from "@bufbuild/protobuf/wkt";
import { createClient, type Interceptor } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import type { Logger } from "pino";
import { ShipmentEvent, ShipmentService } from "../../gen/oms/v1/shipment_service_pb.js";
import type { Config } from "../config/config.js";
import { type ReferenceServices, startReferenceServices } from "../reference-services/index.js";
import { apiClientOptions, referenceServicesSecurity } from "./security-setup.js";

/**
 * The reference implementations of the downstream services, with the
 * simulated courier reporting to the OMS API (when enabled), so orders
 * complete by themselves.
 */
export async function startReferenceServicesFromConfig(
  config: Config,
  omsApiUrl: string,
  logger: Logger,
  /** Credentials of the courier's calls besides those configured (`oms dev`'s tokens). */
  credentials: Interceptor[] = [],
): Promise<ReferenceServices> {
  const rs = config.referenceServices;
  const shipments = createClient(
    ShipmentService,
    createGrpcTransport({ baseUrl: omsApiUrl, ...apiClientOptions(config, credentials) }),
  );
  return startReferenceServices({
    ...referenceServicesSecurity(config),
    host: rs.host,
    port: rs.port,
    logger: logger.child({ component: "reference-services" }),
    faults: rs.faults,
    catalog: rs.catalog,
    payments: { authorizationTtlMs: rs.authorizationTtlMs },
    stateFile: rs.stateFile,
    simulatedCourier: rs.simulatedCourier
      ? {
          dispatchDelayMs: rs.courierDispatchDelayMs,
          deliverDelayMs: rs.courierDeliveryDelayMs,
          async reportEvent({ shipmentId, fulfillmentId, event, occurredAt }) {
            await shipments.reportShipmentEvent({
              shipmentId,
              fulfillmentId,
              event: event === "DISPATCHED" ? ShipmentEvent.DISPATCHED : ShipmentEvent.DELIVERED,
              occurredAt: timestampFromDate(occurredAt),
            });
          },
        }
      : false,
  });
}
