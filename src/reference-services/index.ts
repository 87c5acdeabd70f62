/**
 * Reference implementations of the downstream services the OMS orchestrates
 * (inventory, payments, shipping, notifications) with fault injection, for
 * `oms dev`, `oms reference-services` and the tests.
 */
export { createServiceError, errorReason } from "./errors.js";
export {
  createFaultRegistry,
  FAULT_TARGETS,
  type FaultConfig,
  type FaultRegistry,
  type FaultRegistryOptions,
  type Faults,
  type FaultTarget,
  type InjectedFault,
  NO_FAULTS,
} from "./faults/fault-registry.js";
export { createFaultService, type FaultServiceOptions } from "./faults/fault-service.js";
export { createSeededRandom } from "./faults/seeded-random.js";
export {
  createIdempotencyStore,
  type IdempotencyStore,
  requestFingerprint,
} from "./idempotency.js";
export { type AllocationPlan, planAllocation } from "./inventory/allocate.js";
export {
  type Catalog,
  LOAD_CATALOG_FILE,
  loadDefaultCatalog,
  parseCatalog,
  readCatalogFile,
} from "./inventory/catalog.js";
export {
  createInventoryService,
  type InventoryServiceOptions,
} from "./inventory/inventory-service.js";
export {
  createInventoryStore,
  type InventoryStore,
  type InventoryStoreOptions,
  OUT_OF_STOCK_PREFIX,
  UNKNOWN_SKU_PREFIX,
} from "./inventory/inventory-store.js";
export {
  createNotificationService,
  type NotificationServiceOptions,
} from "./notifications/notification-service.js";
export {
  createNotificationStore,
  type NotificationRecord,
  type NotificationStore,
} from "./notifications/notification-store.js";
export { createPaymentService, type PaymentServiceOptions } from "./payments/payment-service.js";
export {
  createPaymentStore,
  DECLINED_CUSTOMER_PREFIX,
  DEFAULT_AUTHORIZATION_TTL_MS,
  DEFAULT_SPENDING_LIMIT_MINOR,
  type PaymentStore,
  type PaymentStoreOptions,
} from "./payments/payment-store.js";
export {
  createReferenceServiceState,
  DEFAULT_SIMULATED_COURIER,
  type ReferenceServiceState,
  type ReferenceServices,
  type ReferenceServicesOptions,
  registerReferenceServices,
  startReferenceServices,
} from "./server.js";
export { createShippingService, type ShippingServiceOptions } from "./shipping/shipping-service.js";
export {
  createShippingStore,
  type ShipmentRecord,
  type ShippingStore,
} from "./shipping/shipping-store.js";
export {
  createSimulatedCourier,
  type ReportShipmentEvent,
  type ShipmentEventReport,
  type SimulatedCourier,
  type SimulatedCourierOptions,
} from "./shipping/simulated-courier.js";
export {
  openReferenceState,
  type ReferenceState,
  stateOf,
} from "./state.js";
