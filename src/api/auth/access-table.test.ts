import { describe, expect, it } from "vitest";
import { Health } from "../../../gen/grpc/health/v1/health_pb.js";
import { BUSINESS_SERVICES } from "../routes.js";
import { AccessTableError, accessOf, createAccessTable, grants } from "./access-table.js";

describe("the access table", () => {
  it("gives every RPC the API serves a role from the contract", () => {
    const table = createAccessTable(BUSINESS_SERVICES);
    for (const service of BUSINESS_SERVICES) {
      for (const method of service.methods) {
        expect(accessOf(table, `/${service.typeName}/${method.name}`).kind).toBe("role");
      }
    }
    expect(accessOf(table, "/oms.v1.OrderService/SubmitOrder")).toEqual({
      kind: "role",
      role: "orders.write",
    });
    expect(accessOf(table, "/oms.v1.ShipmentService/ReportShipmentEvent")).toEqual({
      kind: "role",
      role: "shipments.report",
    });
  });

  it("refuses to build when a protected RPC has no (oms.v1.required_role) option", () => {
    // grpc.health.v1 has no such option: as a new oms RPC would be without one.
    expect(() => createAccessTable([...BUSINESS_SERVICES, Health])).toThrow(AccessTableError);
    expect(() => createAccessTable([Health])).toThrow(
      "/grpc.health.v1.Health/Check has no (oms.v1.required_role) option",
    );
  });

  it("keeps health and reflection open, and needs admin for anything else", () => {
    const table = createAccessTable(BUSINESS_SERVICES);
    expect(accessOf(table, "/grpc.health.v1.Health/Watch").kind).toBe("open");
    expect(
      accessOf(table, "/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo"),
    ).toEqual({ kind: "open" });
    expect(accessOf(table, "/oms.v1.OrderService/NotInTheTable")).toEqual({
      kind: "role",
      role: "admin",
    });
    const closed = createAccessTable(BUSINESS_SERVICES, []);
    expect(accessOf(closed, "/grpc.health.v1.Health/Check")).toEqual({
      kind: "role",
      role: "admin",
    });
  });

  it("lets admin do everything and other roles only their own", () => {
    expect(grants(["admin"], "orders.write")).toBe(true);
    expect(grants(["orders.read"], "orders.write")).toBe(false);
    expect(grants(["orders.read", "orders.write"], "orders.write")).toBe(true);
    expect(grants([], "orders.read")).toBe(false);
  });
});
