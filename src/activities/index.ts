import type { DownstreamClients } from "../clients/downstream.js";
import type { OrderStore } from "../readmodel/store.js";
import { createInventoryActivities } from "./inventory-activities.js";
import { createPaymentActivities } from "./payment-activities.js";
import { createReadModelActivities } from "./read-model-activities.js";
import { createReturnActivities } from "./return-activities.js";
import { createShippingActivities } from "./shipping-activities.js";

export type { ReservationResult, ReserveInventoryInput } from "./inventory-activities.js";
export type { AuthorizeInput, AuthorizeResult } from "./payment-activities.js";
export type { BookShipmentInput } from "./shipping-activities.js";

/** What the activities need; the worker passes them in. */
export interface ActivityDependencies {
  clients: DownstreamClients;
  store: OrderStore;
  /** Called after saveOrder wrote outbox messages: wakes the notification dispatcher. */
  onOutboxWritten?: () => void;
  /** Called after every saveOrder: wakes the order event publisher. */
  onSaved?: () => void;
}

/** Every activity the worker registers; workflows see only their types. */
export function createActivities(deps: ActivityDependencies) {
  return {
    ...createInventoryActivities(deps.clients),
    ...createPaymentActivities(deps.clients),
    ...createShippingActivities(deps.clients),
    ...createReturnActivities(deps.clients),
    ...createReadModelActivities(deps.store, deps.onOutboxWritten, deps.onSaved),
  };
}

export type Activities = ReturnType<typeof createActivities>;
