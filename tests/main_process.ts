/** What the tests that run main.ts as a subprocess share: where it is, the permissions, a free port. */

/** main.ts, as `deno run` is given it. */
export const MAIN = new URL("../main.ts", import.meta.url).pathname;

/** The permissions of `deno task start`, less those a test adds on purpose. */
export const PERMISSIONS = ["--allow-net", "--allow-env", "--allow-read", "--allow-write"];

/** A TCP port that was free a moment ago on 127.0.0.1. */
export function freePort(): number {
  const l = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = l.addr.port;
  l.close();
  return port;
}
