import { type DescService, getOption, hasOption } from "@bufbuild/protobuf";
import { required_role } from "../../../gen/oms/v1/access_pb.js";

/** The roles of docs/spec.md section 7. `admin` may call every RPC. */
export const ROLES = ["orders.write", "orders.read", "shipments.report", "admin"] as const;
export type Role = (typeof ROLES)[number];

export const ADMIN: Role = "admin";

/**
 * Services anyone may call without credentials unless configured otherwise:
 * health (load balancers, orchestrators) and reflection (grpcurl, buf curl).
 */
export const DEFAULT_OPEN_SERVICES: readonly string[] = [
  "grpc.health.v1.Health",
  "grpc.reflection.v1.ServerReflection",
  "grpc.reflection.v1alpha.ServerReflection",
];

/** What a call to one RPC needs: any caller at all, or an authenticated caller with a role. */
export type Access = { kind: "open" } | { kind: "role"; role: Role };

/** Access per RPC, keyed by `/package.Service/Method` (the HTTP path of every protocol). */
export type AccessTable = ReadonlyMap<string, Access>;

export class AccessTableError extends Error {
  constructor(readonly problems: string[]) {
    super(`RPCs without a valid access rule:\n${problems.map((p) => `  - ${p}`).join("\n")}`);
    this.name = "AccessTableError";
  }
}

/**
 * The one table the auth interceptor decides from: each protected RPC's role
 * comes from its `(oms.v1.required_role)` option in the contract. An RPC
 * without the option, or with an unknown role, is a startup error: a new RPC
 * is never served before someone decided who may call it.
 */
export function createAccessTable(
  protectedServices: readonly DescService[],
  openServices: readonly string[] = DEFAULT_OPEN_SERVICES,
): AccessTable {
  const table = new Map<string, Access>();
  const problems: string[] = [];
  for (const service of protectedServices) {
    for (const method of service.methods) {
      const path = `/${service.typeName}/${method.name}`;
      const role = hasOption(method, required_role) ? getOption(method, required_role) : undefined;
      if (role === undefined) {
        problems.push(`${path} has no (oms.v1.required_role) option`);
      } else if (!(ROLES as readonly string[]).includes(role)) {
        problems.push(`${path}: unknown role "${role}" (expected one of ${ROLES.join(", ")})`);
      } else {
        table.set(path, { kind: "role", role: role as Role });
      }
    }
  }
  if (problems.length > 0) throw new AccessTableError(problems);
  for (const name of openServices) table.set(`/${name}/`, { kind: "open" });
  return table;
}

/**
 * Access of a procedure path. Methods of open services are looked up by their
 * service prefix; anything not in the table needs `admin` (fail closed).
 */
export function accessOf(table: AccessTable, path: string): Access {
  const exact = table.get(path);
  if (exact !== undefined) return exact;
  const service = path.slice(0, path.lastIndexOf("/") + 1);
  return table.get(service) ?? { kind: "role", role: ADMIN };
}

/** Whether roles grant a role; `admin` grants every role. */
export function grants(roles: readonly string[], role: Role): boolean {
  return roles.includes(role) || roles.includes(ADMIN);
}
