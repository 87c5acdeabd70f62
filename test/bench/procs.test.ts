import { spawn } from "node:child_process";
import { once } from "node:events";
import { afterEach, describe, expect, it } from "vitest";
import { childrenByParent, descendants, treeRssBytes } from "../../bench/procs.js";

const children: ReturnType<typeof spawn>[] = [];
afterEach(() => {
  for (const child of children.splice(0)) child.kill("SIGKILL");
});

/** A real node process, child of this one, that holds `mb` MiB resident until killed; resolves once it does. */
async function holder(mb: number) {
  const child = spawn(
    process.execPath,
    [
      "-e",
      `globalThis.b = Buffer.alloc(${mb} * 1024 * 1024, 1); console.log("ready"); setInterval(() => {}, 1000);`,
    ],
    { stdio: ["ignore", "pipe", "ignore"] },
  );
  children.push(child);
  await once(child.stdout, "data");
  return child;
}

describe("bench process tree readings (/proc)", () => {
  it("finds the same descendants from one pass over /proc as from a pass of their own", async () => {
    const a = await holder(1);
    const b = await holder(1);
    const byParent = childrenByParent();
    const shared = descendants(process.pid, byParent);
    expect(shared).toEqual(expect.arrayContaining([a.pid, b.pid]));
    expect(descendants(process.pid)).toEqual(expect.arrayContaining([a.pid, b.pid]));
    expect(descendants(a.pid as number, byParent)).toEqual([]);
  });

  it("counts a child's resident memory in its parent's tree, with a shared pass as without", async () => {
    const child = await holder(64);
    const byParent = childrenByParent();
    const childRss = treeRssBytes(child.pid as number, byParent);
    expect(childRss).toBeGreaterThan(64 * 1024 * 1024);
    const tree = treeRssBytes(process.pid, byParent);
    expect(tree).toBeGreaterThan(childRss);
    expect(treeRssBytes(process.pid)).toBeGreaterThan(childRss);
  });
});
