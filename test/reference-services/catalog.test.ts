import { createClient } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import { pino } from "pino";
import { afterEach, describe, expect, it } from "vitest";
import { InventoryService } from "../../gen/inventory/v1/inventory_service_pb.js";
import { startReferenceServicesFromConfig } from "../../src/cmd/components.js";
import { loadConfig } from "../../src/config/config.js";
import {
  LOAD_CATALOG_FILE,
  loadDefaultCatalog,
  readCatalogFile,
} from "../../src/reference-services/index.js";
import { type Harness, startHarness } from "./harness.js";

let h: Harness | undefined;
afterEach(async () => {
  await h?.stop();
  h = undefined;
});

async function stockOf(harness: Harness, sku: string) {
  const { levels } = await harness.inventory.getStock({ skus: [sku] });
  return Object.fromEntries(levels.map((l) => [l.warehouseId, l.availableQuantity]));
}

describe("a custom catalog", () => {
  it("is what the inventory service serves", async () => {
    h = await startHarness({
      catalog: { warehouses: ["wh-a", "wh-b"], stock: { "WIDGET-1": { "wh-b": 7 } } },
    });
    expect(await stockOf(h, "WIDGET-1")).toMatchObject({ "wh-b": 7 });
    const res = await h.inventory.reserve({
      idempotencyKey: "k-1",
      orderId: "o-1",
      lines: [{ sku: "WIDGET-1", quantity: 3 }],
    });
    expect(res.allocations.map((a) => a.warehouseId)).toEqual(["wh-b"]);
    expect(await stockOf(h, "WIDGET-1")).toMatchObject({ "wh-b": 4 });
    // Not in this catalog (and no open SKUs): unknown.
    await expect(
      h.inventory.reserve({
        idempotencyKey: "k-2",
        orderId: "o-2",
        lines: [{ sku: "KEYBOARD-MX", quantity: 1 }],
      }),
    ).rejects.toThrow(/not in the catalog/);
  });

  it("comes from OMS_REFERENCE_CATALOG through the configuration", async () => {
    const config = loadConfig({
      OMS_REFERENCE_CATALOG: LOAD_CATALOG_FILE,
      OMS_REFERENCE_SERVICES_PORT: "0",
      OMS_SIMULATED_COURIER: "false",
      OMS_REFERENCE_STATE_FILE: ":memory:",
    });
    const services = await startReferenceServicesFromConfig(
      config,
      "http://127.0.0.1:9",
      pino({ level: "silent" }),
    );
    const inventory = createClient(
      InventoryService,
      createGrpcTransport({ baseUrl: services.url }),
    );
    try {
      const { levels } = await inventory.getStock({ skus: ["KEYBOARD-MX"] });
      expect(levels.find((l) => l.warehouseId === "wh-west")?.availableQuantity).toBe(1_000_000);
    } finally {
      await services.stop();
    }
  });
});

describe("the load catalog", () => {
  it("stocks the default catalog's SKUs in the same warehouses, a million each", () => {
    const defaults = loadDefaultCatalog();
    const load = readCatalogFile(LOAD_CATALOG_FILE);
    expect(load.warehouses).toEqual(defaults.warehouses);
    expect(load.openSkus).toEqual(defaults.openSkus);
    expect(Object.keys(load.stock).sort()).toEqual(Object.keys(defaults.stock).sort());
    for (const [sku, perWarehouse] of Object.entries(defaults.stock)) {
      expect(Object.keys(load.stock[sku] ?? {}).sort(), sku).toEqual(
        Object.keys(perWarehouse).sort(),
      );
      for (const quantity of Object.values(load.stock[sku] ?? {})) {
        expect(quantity).toBe(1_000_000);
      }
    }
  });
});
