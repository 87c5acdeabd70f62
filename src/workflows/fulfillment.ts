import {
  ActivityFailure,
  ApplicationFailure,
  allHandlersFinished,
  condition,
  getExternalWorkflowHandle,
  log,
  setHandler,
  workflowInfo,
} from "@temporalio/workflow";
import type { Fulfillment } from "../domain/order.js";
import { activities, compensations } from "./activity-proxies.js";
import {
  cancelFulfillmentSignal,
  type FulfillmentWorkflowInput,
  fulfillmentProgressSignal,
  reportShipmentEventUpdate,
  type ShipmentEventReport,
  WorkflowFailureType,
} from "./messages.js";

/**
 * One warehouse's part of an order: authorize its invoice → book a courier →
 * wait for DISPATCHED (then capture) → wait for DELIVERED. Reports progress to
 * the order workflow, which owns the read model; its result is the final
 * state. A cancellation before dispatch compensates what was done, newest
 * first: cancel the booking, void the authorization, release the stock.
 */
export async function fulfillmentWorkflow(input: FulfillmentWorkflowInput): Promise<Fulfillment> {
  const { orderId } = input;
  let f = input.fulfillment;
  let cancelRequested = false;
  let dispatchedAt = "";
  let deliveredAt = "";

  const parentId = workflowInfo().parent?.workflowId;
  const report = async () => {
    if (parentId !== undefined)
      await getExternalWorkflowHandle(parentId).signal(fulfillmentProgressSignal, f);
  };
  const finish = async (result: Fulfillment) => {
    // Let an in-flight courier Update reply before the run closes.
    await condition(allHandlersFinished);
    return result;
  };

  setHandler(cancelFulfillmentSignal, () => {
    cancelRequested = true;
  });
  setHandler(
    reportShipmentEventUpdate,
    (event: ShipmentEventReport) => {
      if (event.event === "DISPATCHED") dispatchedAt ||= event.occurredAt;
      else deliveredAt ||= event.occurredAt;
      return f;
    },
    {
      validator: (event: ShipmentEventReport) =>
        validateShipmentEvent(f, event, dispatchedAt !== ""),
    },
  );

  try {
    const auth = await activities.authorizePayment({
      orderId,
      fulfillmentId: f.fulfillmentId,
      customerId: input.customerId,
      currencyCode: input.currencyCode,
      amountMinor: f.amounts.totalMinor,
    });
    if (!auth.approved) {
      f = {
        ...f,
        status: "FAILED",
        statusReason: `payment declined: ${auth.declineReason}`,
        payment: {
          ...f.payment,
          status: "DECLINED",
          authorizationId: auth.authorizationId,
          declineReason: auth.declineReason,
        },
      };
      await compensations.releaseInventory({ orderId, warehouseId: f.warehouseId });
      return await finish(f);
    }
    f = {
      ...f,
      status: "AUTHORIZED",
      payment: {
        ...f.payment,
        status: "AUTHORIZED",
        authorizationId: auth.authorizationId,
        authorizedMinor: f.amounts.totalMinor,
      },
    };
    if (cancelRequested)
      return await finish(await compensate(orderId, f, "cancelled before dispatch"));
    await report();

    const booking = await activities.bookShipment({
      orderId,
      fulfillmentId: f.fulfillmentId,
      warehouseId: f.warehouseId,
      address: input.shippingAddress,
      items: f.items,
    });
    f = {
      ...f,
      status: "BOOKED",
      shipment: {
        ...f.shipment,
        status: "BOOKED",
        shipmentId: booking.shipmentId,
        courierReference: booking.courierReference,
      },
    };
    await report();

    await condition(() => cancelRequested || dispatchedAt !== "");
    if (dispatchedAt === "") {
      if (
        await compensations.cancelShipment({
          fulfillmentId: f.fulfillmentId,
          shipmentId: f.shipment.shipmentId,
        })
      ) {
        f = { ...f, shipment: { ...f.shipment, status: "CANCELLED" } };
        return await finish(await compensate(orderId, f, "cancelled before dispatch"));
      }
      // The courier picked it up before the cancellation reached it: carry on.
      log.info("shipment already dispatched; the cancellation does not apply", {
        fulfillmentId: f.fulfillmentId,
      });
      await condition(() => dispatchedAt !== "");
    }

    // Tell the order at once: from here nothing can be cancelled, even while
    // the capture below is still retrying through a payments outage.
    f = {
      ...f,
      status: "DISPATCHED",
      shipment: { ...f.shipment, status: "DISPATCHED", dispatchTime: dispatchedAt },
    };
    await report();
    await activities.capturePayment({
      fulfillmentId: f.fulfillmentId,
      authorizationId: f.payment.authorizationId,
      amountMinor: f.payment.authorizedMinor,
    });
    f = {
      ...f,
      payment: { ...f.payment, status: "CAPTURED", capturedMinor: f.payment.authorizedMinor },
    };
    await report();

    await condition(() => deliveredAt !== "");
    f = {
      ...f,
      status: "DELIVERED",
      shipment: { ...f.shipment, status: "DELIVERED", deliveryTime: deliveredAt },
    };
    return await finish(f);
  } catch (err) {
    // Only a permanent downstream error gets here (transient ones are retried
    // without end): the fulfillment fails and gives back what it holds.
    if (!(err instanceof ActivityFailure)) throw err;
    const reason = err.cause instanceof ApplicationFailure ? err.cause.message : err.message;
    log.warn("fulfillment failed", { fulfillmentId: f.fulfillmentId, reason });
    if (f.status === "BOOKED") {
      await compensations.cancelShipment({
        fulfillmentId: f.fulfillmentId,
        shipmentId: f.shipment.shipmentId,
      });
      f = { ...f, shipment: { ...f.shipment, status: "CANCELLED" } };
    }
    const compensated = await compensate(orderId, f, reason);
    return await finish({ ...compensated, status: "FAILED" });
  }
}

/** Gives back what the fulfillment holds: void the authorization, release the stock. */
async function compensate(orderId: string, f: Fulfillment, reason: string): Promise<Fulfillment> {
  let payment = f.payment;
  if (payment.status === "AUTHORIZED") {
    await compensations.voidPayment({
      fulfillmentId: f.fulfillmentId,
      authorizationId: payment.authorizationId,
    });
    payment = { ...payment, status: "VOIDED" };
  }
  await compensations.releaseInventory({ orderId, warehouseId: f.warehouseId });
  return { ...f, status: "CANCELLED", statusReason: reason, payment };
}

/**
 * Courier events must follow the shipment: DISPATCHED once booked, DELIVERED
 * once dispatched. A repeat of an event already applied is accepted (and
 * changes nothing); anything else is out of order.
 */
function validateShipmentEvent(
  f: Fulfillment,
  event: ShipmentEventReport,
  dispatchSeen: boolean,
): void {
  const shipment = f.shipment.status;
  const inOrder =
    event.event === "DISPATCHED"
      ? shipment === "BOOKED" || shipment === "DISPATCHED" || shipment === "DELIVERED"
      : shipment === "DISPATCHED" ||
        shipment === "DELIVERED" ||
        (shipment === "BOOKED" && dispatchSeen);
  if (!inOrder) {
    throw ApplicationFailure.create({
      type: WorkflowFailureType.ShipmentEventOutOfOrder,
      message: `shipment ${f.shipment.shipmentId || "(not booked yet)"} is ${shipment.toLowerCase()}; ${event.event.toLowerCase()} does not follow`,
      nonRetryable: true,
    });
  }
}
