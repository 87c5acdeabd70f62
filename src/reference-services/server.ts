import { createValidator, type Validator } from "@bufbuild/protovalidate";
import type { ConnectRouter, Interceptor } from "@connectrpc/connect";
import { createValidateInterceptor } from "@connectrpc/validate";
import { type Logger, pino } from "pino";
import { FaultService } from "../../gen/faults/v1/fault_service_pb.js";
import { InventoryService } from "../../gen/inventory/v1/inventory_service_pb.js";
import { NotificationService } from "../../gen/notifications/v1/notification_service_pb.js";
import { PaymentService } from "../../gen/payments/v1/payment_service_pb.js";
import { ShippingService } from "../../gen/shipping/v1/shipping_service_pb.js";
import { createAuthenticationInterceptor } from "../api/auth/auth-interceptor.js";
import type { Authenticator } from "../api/auth/authenticator.js";
import { peerCertificateValues } from "../api/auth/peer-certificate.js";
import { startConnectServer } from "../net/connect-server.js";
import {
  createFaultRegistry,
  type FaultConfig,
  type FaultRegistry,
  type FaultTarget,
} from "./faults/fault-registry.js";
import { createFaultService } from "./faults/fault-service.js";
import { type Catalog, loadDefaultCatalog } from "./inventory/catalog.js";
import { createInventoryService } from "./inventory/inventory-service.js";
import { createInventoryStore, type InventoryStore } from "./inventory/inventory-store.js";
import { createNotificationService } from "./notifications/notification-service.js";
import {
  createNotificationStore,
  type NotificationStore,
} from "./notifications/notification-store.js";
import { createPaymentService } from "./payments/payment-service.js";
import {
  createPaymentStore,
  type PaymentStore,
  type PaymentStoreOptions,
} from "./payments/payment-store.js";
import { createShippingService } from "./shipping/shipping-service.js";
import { createShippingStore, type ShippingStore } from "./shipping/shipping-store.js";
import {
  createSimulatedCourier,
  type SimulatedCourier,
  type SimulatedCourierOptions,
} from "./shipping/simulated-courier.js";
import { openReferenceState, type ReferenceState } from "./state.js";

/** Courier timings for `npm start`: long enough to watch, short enough not to wait for. */
export const DEFAULT_SIMULATED_COURIER: Readonly<SimulatedCourierOptions> = Object.freeze({
  dispatchDelayMs: 5_000,
  deliverDelayMs: 10_000,
});

/**
 * One validator for every server in the process: it compiles each message's
 * rules once and caches them, which makes the first call of a fresh server
 * (every test file starts some) fast.
 */
let sharedValidator: Validator | undefined;

/** How long calls in flight may go on after stop() before they are aborted. */
const STOP_GRACE_MS = 1_000;

/** Largest request or response message the reference services accept or send. */
const MAX_MESSAGE_BYTES = 4 * 1024 * 1024;

/** Options of {@link startReferenceServices}. */
export interface ReferenceServicesOptions {
  /** TCP port; 0 (the default) picks a free one. */
  port?: number;
  /** Interface to listen on; "127.0.0.1" by default. */
  host?: string;
  /** Faults in force from the start, per service; none by default. */
  faults?: Partial<Record<FaultTarget, FaultConfig>>;
  /** Randomness for fault rates; `Math.random` by default, `createSeededRandom(n)` in tests. */
  random?: () => number;
  /** Inventory stock; `inventory/catalog.json` by default. */
  catalog?: Catalog;
  /** Spending limits of the payment service. */
  payments?: Omit<PaymentStoreOptions, "now">;
  /**
   * Picks up and delivers booked shipments on timers and reports the events.
   * Off by default (tests drive shipments through `shipping.dispatch/deliver`);
   * `oms dev` turns it on, e.g. with {@link DEFAULT_SIMULATED_COURIER}.
   */
  simulatedCourier?: SimulatedCourierOptions | false;
  /**
   * The SQLite file that keeps the services' state (stock, holds, ledger,
   * shipments, idempotency keys, the courier's reports), so that it outlives
   * the process; in memory (":memory:", the default) otherwise.
   */
  stateFile?: string;
  /** Clock of every service; `new Date()` by default. */
  now?: () => Date;
  /** Where the courier logs failed event reports; a pino logger at "info" by default. */
  logger?: Logger;
  /**
   * Require every call to inventory, payments, shipping and notifications to
   * authenticate (a bearer token, or a client certificate with `tls.ca`),
   * checked as the OMS API checks its callers (src/api/auth); calls without
   * valid credentials get UNAUTHENTICATED. Unset: open. The fault admin
   * service stays open (it is the tests' and operators' control).
   */
  authenticate?: Authenticator;
  /** Serve TLS (HTTP/2 by ALPN); with `ca`, ask clients for a certificate from it. */
  tls?: { cert: Buffer; key: Buffer; ca?: Buffer };
}

/** The state behind the reference services, shared by their handlers and open to tests. */
export interface ReferenceServiceState {
  inventory: InventoryStore;
  payments: PaymentStore;
  shipping: ShippingStore;
  notifications: NotificationStore;
  faults: FaultRegistry;
  /** Present when the simulated courier is on. */
  courier?: SimulatedCourier;
  /** The database behind the stores. */
  state: ReferenceState;
}

/** Running reference services. */
export interface ReferenceServices extends ReferenceServiceState {
  /** Base URL of every service, e.g. "http://127.0.0.1:50051" (h2c: gRPC, gRPC-Web and Connect). */
  url: string;
  /** The port listened on. */
  port: number;
  /** The interface listened on. */
  host: string;
  /** Stops the courier, ends open calls and connections, closes the port and the state. */
  stop(): Promise<void>;
}

/**
 * Creates the state of all reference services from the options (no network),
 * or opens what `options.stateFile` holds (and resumes the courier's work).
 */
export function createReferenceServiceState(
  options: Omit<ReferenceServicesOptions, "port" | "host"> = {},
): ReferenceServiceState {
  const now = options.now;
  const state = openReferenceState(options.stateFile);
  try {
    const shipping = createShippingStore({ now, state });
    const stores = {
      inventory: createInventoryStore({ catalog: options.catalog ?? loadDefaultCatalog(), state }),
      payments: createPaymentStore({ ...options.payments, now, state }),
      shipping,
      notifications: createNotificationStore({ now, state }),
      faults: createFaultRegistry({ initial: options.faults, random: options.random }),
      state,
    };
    // Last: it starts resuming shipments on their way at once.
    const courier =
      options.simulatedCourier === undefined || options.simulatedCourier === false
        ? undefined
        : createSimulatedCourier(
            shipping,
            options.simulatedCourier,
            options.logger ?? pino({ name: "reference-services" }),
          );
    return { ...stores, courier };
  } catch (err) {
    state.close();
    throw err;
  }
}

/**
 * Registers every reference service on a Connect router: each downstream
 * service behind its own fault interceptor, then protovalidate; the fault
 * admin service behind validation only, so faults can always be cleared.
 * Usable with `createRouterTransport` for in-memory tests.
 */
export function registerReferenceServices(
  router: ConnectRouter,
  state: ReferenceServiceState,
  /** Authenticates every downstream call (ReferenceServicesOptions.authenticate). */
  authentication?: Interceptor,
): ConnectRouter {
  sharedValidator ??= createValidator();
  const validate = createValidateInterceptor({ validator: sharedValidator });
  // The fault interceptor goes first (outermost) so an outage rejects even
  // invalid requests; then authentication, before anything reads the request.
  const guarded = (target: FaultTarget) => ({
    interceptors: [
      state.faults.interceptor(target),
      ...(authentication ? [authentication] : []),
      validate,
    ],
  });
  return router
    .service(
      InventoryService,
      createInventoryService({ store: state.inventory }),
      guarded("inventory"),
    )
    .service(PaymentService, createPaymentService({ store: state.payments }), guarded("payments"))
    .service(
      ShippingService,
      createShippingService({ store: state.shipping, courier: state.courier }),
      guarded("shipping"),
    )
    .service(
      NotificationService,
      createNotificationService({ store: state.notifications, validator: sharedValidator }),
      guarded("notifications"),
    )
    .service(FaultService, createFaultService({ registry: state.faults }), {
      interceptors: [validate],
    });
}

/**
 * Starts the reference inventory, payment, shipping, notification and fault
 * services on one HTTP/2 cleartext (h2c) Connect server, so the OMS can point
 * every downstream base URL at the same address.
 */
export async function startReferenceServices(
  options: ReferenceServicesOptions = {},
): Promise<ReferenceServices> {
  const host = options.host ?? "127.0.0.1";
  const state = createReferenceServiceState(options);
  const logger = options.logger ?? pino({ name: "reference-services" });
  const authentication =
    options.authenticate && createAuthenticationInterceptor(options.authenticate, logger);
  // The same server as the API's: h2c and HTTP/1.1 on one port (or TLS by ALPN).
  const server = await startConnectServer({
    host,
    port: options.port ?? 0,
    logger,
    ...(options.tls ? { tls: options.tls } : {}),
    adapter: {
      routes: (router) => registerReferenceServices(router, state, authentication),
      readMaxBytes: MAX_MESSAGE_BYTES,
      writeMaxBytes: MAX_MESSAGE_BYTES,
      // The client certificate of the call's TLS connection, for authentication.
      contextValues: peerCertificateValues,
    },
  }).catch(async (err: unknown) => {
    // The port could not be had: the courier and the state file are let go.
    await state.courier?.stop();
    state.state.close();
    throw err;
  });

  let stopping: Promise<void> | undefined;
  const stop = (): Promise<void> => {
    stopping ??= (async () => {
      await state.courier?.stop();
      // Calls in flight get a moment to end; then they are aborted and every socket destroyed.
      await server.close(STOP_GRACE_MS);
      state.state.close();
    })();
    return stopping;
  };

  return { ...state, url: server.url, port: server.port, host, stop };
}
