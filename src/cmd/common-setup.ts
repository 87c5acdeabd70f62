/** What the API and the worker both open from the Config: the read model and the payload keyring. */
import type { Config } from "../config/config.js";
import { withStoreMetrics } from "../observability/store-metrics.js";
import { type CreateStoreOptions, createStore } from "../readmodel/create-store.js";
import type { OrderStore } from "../readmodel/store.js";
import type { Keyring } from "../temporal/codec/keyring.js";

export async function openStore(
  config: Config,
  options: Pick<CreateStoreOptions, "walAutocheckpointPages"> = {},
): Promise<OrderStore> {
  const store = await createStore({
    databaseUrl: config.readModel.databaseUrl,
    dataDir: config.dataDir,
    pageTokenSecret: config.readModel.pageTokenSecret,
    ...options,
  });
  return withStoreMetrics(store);
}

/** The payload keyring, if payloads are encrypted (OMS_PAYLOAD_KEYS; `oms dev` fills in its own). */
export function keyringOf(config: Config): Keyring | undefined {
  const keys = config.security.payloadKeys;
  return typeof keys === "object" ? keys : undefined;
}
