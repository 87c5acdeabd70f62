/**
 * PostgreSQL for tests.
 *
 * With `OMS_TEST_DATABASE_URL` set (CI services, a developer's server) the
 * tests use that server; otherwise a throwaway server is started from the
 * local PostgreSQL binaries in a temporary folder on a free port, and stopped
 * and deleted afterwards. Either way every test gets fresh databases from
 * {@link TestPostgres.createDatabase}, so test files never see each other's
 * rows. Missing binaries are an error, never a skip: CI installs PostgreSQL,
 * and a silently skipped back-end is an untested back-end.
 */

import { execFile, spawnSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { chownSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import pg from "pg";
import { freePort } from "./free-port.js";

const execFileAsync = promisify(execFile);

/** A PostgreSQL server the tests may create databases on. */
export interface TestPostgres {
  /** Connection string of the server's maintenance database (`postgres`). */
  readonly adminUrl: string;
  /** Whether this process started the server (false with `OMS_TEST_DATABASE_URL`). */
  readonly owned: boolean;
  /** How long getting the server ready took, in milliseconds. */
  readonly startupMs: number;
  /** Creates an empty database and returns its connection string. */
  createDatabase(): Promise<string>;
  /** Drops the databases this object created; stops and deletes the server if it started one. */
  stop(): Promise<void>;
}

/** Environment variable naming an existing server to use instead of starting one. */
export const TEST_DATABASE_URL_ENV = "OMS_TEST_DATABASE_URL";

/**
 * Returns a server for tests: the one in `OMS_TEST_DATABASE_URL` or a new
 * throwaway one.
 *
 * @throws when neither is available, with what to install.
 */
export async function startTestPostgres(): Promise<TestPostgres> {
  const started = performance.now();
  const external = process.env[TEST_DATABASE_URL_ENV];
  if (external !== undefined && external !== "") {
    // Fail here, in the suite's setup, rather than in every test.
    try {
      await withAdmin(external, (client) => client.query("select 1"));
    } catch (error) {
      throw new Error(`${TEST_DATABASE_URL_ENV} is set but its server does not answer`, {
        cause: error,
      });
    }
    return createDatabaseFactory(external, false, performance.now() - started, async () => {});
  }
  const server = await startThrowawayServer();
  return createDatabaseFactory(server.adminUrl, true, performance.now() - started, server.stop);
}

function createDatabaseFactory(
  adminUrl: string,
  owned: boolean,
  startupMs: number,
  stopServer: () => Promise<void>,
): TestPostgres {
  const created: string[] = [];
  let counter = 0;
  return {
    adminUrl,
    owned,
    startupMs,
    async createDatabase() {
      counter += 1;
      const name = `oms_test_${process.pid}_${counter}_${randomBytes(4).toString("hex")}`;
      // Identifiers cannot be bind parameters; the name is built from digits
      // and hex only, so quoting it is enough.
      await withAdmin(adminUrl, (client) => client.query(`create database "${name}"`));
      created.push(name);
      const url = new URL(adminUrl);
      url.pathname = `/${name}`;
      return url.toString();
    },
    async stop() {
      try {
        // A server we own is deleted as a whole; on a shared one, clean up.
        if (!owned && created.length > 0) {
          await withAdmin(adminUrl, async (client) => {
            for (const name of created.splice(0)) {
              await client.query(`drop database if exists "${name}" with (force)`);
            }
          });
        }
      } finally {
        await stopServer();
      }
    },
  };
}

async function withAdmin<T>(adminUrl: string, use: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: adminUrl });
  await client.connect();
  try {
    return await use(client);
  } finally {
    await client.end();
  }
}

interface ThrowawayServer {
  adminUrl: string;
  stop(): Promise<void>;
}

async function startThrowawayServer(): Promise<ThrowawayServer> {
  const bin = findPostgresBin();
  // PostgreSQL refuses to run as root; CI containers and dev boxes often are root.
  const asUser = process.getuid?.() === 0 ? lookupUser("postgres") : undefined;
  const run = async (program: string, args: string[], cwd: string): Promise<void> => {
    const [file, argv] =
      asUser === undefined
        ? [join(bin, program), args]
        : ["runuser", ["-u", asUser.name, "--", join(bin, program), ...args]];
    try {
      await execFileAsync(file, argv, { cwd, timeout: 120_000 });
    } catch (error) {
      const { stdout = "", stderr = "" } = error as { stdout?: string; stderr?: string };
      throw new Error(`${program} ${args.join(" ")} failed:\n${stderr}${stdout}`, { cause: error });
    }
  };

  // Short path: the Unix socket lives here too, and socket paths max out at ~107 bytes.
  const dir = mkdtempSync(join(tmpdir(), "oms-pg-"));
  if (asUser !== undefined) chownSync(dir, asUser.uid, asUser.gid);
  const dataDir = join(dir, "data");
  const logFile = join(dir, "server.log");
  let running = false;

  const stopSync = (): void => {
    if (running) {
      const argv = [join(bin, "pg_ctl"), "-D", dataDir, "-m", "immediate", "-w", "stop"];
      const [file, args] =
        asUser === undefined
          ? [argv[0] ?? "", argv.slice(1)]
          : ["runuser", ["-u", asUser.name, "--", ...argv]];
      spawnSync(file, args, { cwd: dir, stdio: "ignore", timeout: 30_000 });
      running = false;
    }
    rmSync(dir, { recursive: true, force: true });
  };
  // If the test process dies without afterAll, do not leave a server behind.
  process.once("exit", stopSync);

  try {
    await run(
      "initdb",
      ["-D", dataDir, "-A", "trust", "-U", "oms", "-E", "UTF8", "--no-sync", "--no-instructions"],
      dir,
    );
    // A free port can be taken between probing and binding; retry a few times.
    for (let attempt = 1; ; attempt++) {
      const port = await freePort();
      const serverOptions = [
        `-p ${port}`,
        `-k ${dir}`,
        "-c listen_addresses=127.0.0.1",
        // Durability is pointless for a throwaway server and costs seconds.
        "-c fsync=off",
        "-c synchronous_commit=off",
        "-c full_page_writes=off",
      ].join(" ");
      try {
        await run(
          "pg_ctl",
          ["-D", dataDir, "-l", logFile, "-o", serverOptions, "-w", "-t", "60", "start"],
          dir,
        );
        running = true;
        return {
          adminUrl: `postgres://oms@127.0.0.1:${port}/postgres`,
          async stop() {
            process.removeListener("exit", stopSync);
            stopSync();
          },
        };
      } catch (error) {
        if (attempt >= 3) {
          const log = existsSync(logFile) ? readFileSync(logFile, "utf8") : "";
          throw new Error(`PostgreSQL did not start; server log:\n${log}`, { cause: error });
        }
      }
    }
  } catch (error) {
    process.removeListener("exit", stopSync);
    stopSync();
    throw error;
  }
}

/** The folder with initdb and pg_ctl: `OMS_TEST_POSTGRES_BIN`, then PATH, then Debian's layout. */
function findPostgresBin(): string {
  const candidates: string[] = [];
  const explicit = process.env.OMS_TEST_POSTGRES_BIN;
  if (explicit) candidates.push(explicit);
  const debianRoot = "/usr/lib/postgresql";
  if (existsSync(debianRoot)) {
    const versions = readdirSync(debianRoot)
      .filter((name) => /^\d+$/.test(name))
      .sort((a, b) => Number(b) - Number(a));
    candidates.push(...versions.map((version) => join(debianRoot, version, "bin")));
  }
  for (const entry of (process.env.PATH ?? "").split(":")) {
    if (entry) candidates.push(entry);
  }
  const found = candidates.find(
    (dir) => existsSync(join(dir, "initdb")) && existsSync(join(dir, "pg_ctl")),
  );
  if (found === undefined) {
    throw new Error(
      "PostgreSQL server binaries (initdb, pg_ctl) not found. Install PostgreSQL " +
        "(e.g. `apt-get install -y postgresql`), set OMS_TEST_POSTGRES_BIN to their folder, " +
        `or set ${TEST_DATABASE_URL_ENV} to a server the tests may create databases on.`,
    );
  }
  return found;
}

function lookupUser(name: string): { name: string; uid: number; gid: number } {
  const line = readFileSync("/etc/passwd", "utf8")
    .split("\n")
    .find((entry) => entry.startsWith(`${name}:`));
  const [, , uid, gid] = line?.split(":") ?? [];
  if (uid === undefined || gid === undefined) {
    throw new Error(
      `running as root, and PostgreSQL refuses to: a "${name}" user is needed to run the test server ` +
        `(installing the postgresql package creates it), or set ${TEST_DATABASE_URL_ENV}`,
    );
  }
  return { name, uid: Number(uid), gid: Number(gid) };
}
