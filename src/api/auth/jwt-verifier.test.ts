import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { exportJWK, generateKeyPair, SignJWT } from "jose";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { AuthenticationError, AuthKeysUnavailableError } from "./authentication-error.js";
import { createJwtVerifier, DEFAULT_JWT_ALGORITHMS } from "./jwt-verifier.js";

describe("createJwtVerifier with a JWKS URL", () => {
  let server: Server;
  let url: string;
  let fetches = 0;
  let sign: (claims: Record<string, unknown>) => Promise<string>;

  beforeAll(async () => {
    const { publicKey, privateKey } = await generateKeyPair("RS256");
    const jwks = { keys: [{ ...(await exportJWK(publicKey)), kid: "k1", alg: "RS256" }] };
    server = createServer((_req, res) => {
      fetches++;
      res.setHeader("content-type", "application/json");
      res.end(JSON.stringify(jwks));
    });
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/.well-known/jwks.json`;
    sign = (claims) =>
      new SignJWT(claims)
        .setProtectedHeader({ alg: "RS256", kid: "k1" })
        .setIssuer("iss-1")
        .setAudience("oms")
        .setSubject("svc-a")
        .setExpirationTime("5m")
        .sign(privateKey);
  });
  afterAll(() => new Promise<void>((resolve) => server.close(() => resolve())));

  const options = {
    issuer: "iss-1",
    audience: "oms",
    algorithms: DEFAULT_JWT_ALGORITHMS,
    clockToleranceS: 30,
  };

  it("fetches the keys once and reads roles from the configured claim", async () => {
    const verify = createJwtVerifier({ ...options, jwksUrl: url, rolesClaim: "scope" });
    const caller = await verify(await sign({ scope: "orders.read shipments.report" }));
    expect(caller).toEqual({
      principal: "svc-a",
      roles: ["orders.read", "shipments.report"],
      method: "jwt",
    });
    await verify(await sign({ scope: "orders.read" }));
    expect(fetches).toBe(1);
  });

  it("refuses an algorithm outside the allow-list", async () => {
    const verify = createJwtVerifier({
      ...options,
      algorithms: ["ES256"],
      jwksUrl: url,
      rolesClaim: "roles",
    });
    const err = await verify(await sign({ roles: ["admin"] })).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(AuthenticationError);
    expect((err as AuthenticationError).detail).toBe("algorithm_not_allowed");
  });

  it("never accepts none in the allow-list", () => {
    expect(() =>
      createJwtVerifier({ ...options, algorithms: ["none"], jwksUrl: url, rolesClaim: "roles" }),
    ).toThrow(/none/);
  });

  it("refuses, when created, a key set file that is not one", () => {
    const dir = mkdtempSync(join(tmpdir(), "oms-jwks-file-"));
    try {
      const file = join(dir, "jwks.json");
      writeFileSync(file, JSON.stringify({ kty: "RSA" }));
      expect(() => createJwtVerifier({ ...options, jwksFile: file, rolesClaim: "roles" })).toThrow(
        /not a JSON Web Key Set/,
      );
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it("tells keys it cannot fetch apart from bad tokens", async () => {
    const token = await sign({ roles: ["orders.read"] });
    // A port nobody listens on: the fetch fails.
    const closed = createServer();
    await new Promise<void>((resolve) => closed.listen(0, "127.0.0.1", resolve));
    const closedUrl = `http://127.0.0.1:${(closed.address() as AddressInfo).port}/jwks.json`;
    await new Promise<void>((resolve) => closed.close(() => resolve()));
    const unreachable = createJwtVerifier({ ...options, jwksUrl: closedUrl, rolesClaim: "roles" });
    const err = await unreachable(token).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(AuthKeysUnavailableError);
    expect((err as AuthKeysUnavailableError).detail).toBe("jwks_unreachable");

    // An issuer that answers 503.
    const failing = createServer((_req, res) => {
      res.statusCode = 503;
      res.end("down");
    });
    await new Promise<void>((resolve) => failing.listen(0, "127.0.0.1", resolve));
    try {
      const failingUrl = `http://127.0.0.1:${(failing.address() as AddressInfo).port}/jwks.json`;
      const verify = createJwtVerifier({ ...options, jwksUrl: failingUrl, rolesClaim: "roles" });
      const down = await verify(token).catch((e: unknown) => e);
      expect(down).toBeInstanceOf(AuthKeysUnavailableError);
      expect((down as AuthKeysUnavailableError).detail).toBe("jwks_bad_response");
    } finally {
      await new Promise<void>((resolve) => failing.close(() => resolve()));
    }

    // With the keys at hand, a broken token is still the caller's problem.
    const good = createJwtVerifier({ ...options, jwksUrl: url, rolesClaim: "roles" });
    const bad = await good(`${token.slice(0, -4)}AAAA`).catch((e: unknown) => e);
    expect(bad).toBeInstanceOf(AuthenticationError);
  });
});
