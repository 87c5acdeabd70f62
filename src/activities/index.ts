import { createInventoryActivities } from "./inventory.js";

export type { ReservationResult, ReserveInventoryInput } from "./inventory.js";

/** Dependencies of the activities: the downstream clients and settings the worker passes in. */
export interface ActivityDependencies {
  defaultWarehouseId: string;
}

/** Every activity the worker registers; workflows see only their types. */
export function createActivities(deps: ActivityDependencies) {
  return {
    ...createInventoryActivities({ defaultWarehouseId: deps.defaultWarehouseId }),
  };
}

export type Activities = ReturnType<typeof createActivities>;
