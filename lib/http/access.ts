/**
 * Who may use the HTTP port from a browser: the `Host` names the router answers to (against DNS
 * rebinding), the page origins that may open `/osc`, and the optional token that protects the
 * status page, its event stream and the metrics.
 *
 * @module
 */

import { createHash, timingSafeEqual } from "node:crypto";
import { isIP } from "node:net";

/** What the operator allowed (the `--http-allow-*` flags and the token). */
export interface AccessOptions {
  /** Extra names for the `Host` header (`--http-allow-host`), beside the router's own. */
  allowHosts: string[];
  /** Page origins allowed to open `/osc` (`--http-allow-origin`); `*` allows any. */
  allowOrigins: string[];
  /** The token for `/`, `/status.json`, `/events` and `/metrics`; undefined leaves them open. */
  token: string | undefined;
}

/** No extra hosts or origins, no token. */
export const DEFAULT_ACCESS_OPTIONS: AccessOptions = { allowHosts: [], allowOrigins: [], token: undefined };

/**
 * The host part of a `Host` header or URL authority, lower-cased, without port or IPv6 brackets.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { hostOnly } from "./access.ts";
 * assert.equal(hostOnly("Venue.Example:8080"), "venue.example");
 * assert.equal(hostOnly("[::1]:8080"), "::1");
 * assert.equal(hostOnly("10.0.0.2"), "10.0.0.2");
 * assert.equal(hostOnly("pi.local."), "pi.local");
 * ```
 *
 * @param authority `host`, `host:port`, `[v6]` or `[v6]:port`
 * @returns the host alone
 */
export function hostOnly(authority: string): string {
  const text = authority.trim().toLowerCase();
  const host = text.startsWith("[")
    ? text.slice(1, text.indexOf("]") < 0 ? undefined : text.indexOf("]"))
    : text.replace(/:\d*$/, "");
  return host.endsWith(".") ? host.slice(0, -1) : host;
}

/**
 * The machine's own host name, if it can be read. `Deno.hostname()` needs --allow-sys, which the
 * router's tasks do not grant (and asking would prompt on a terminal), so /etc/hostname first.
 */
function machineHostname(): string | undefined {
  try {
    if (Deno.permissions.querySync({ name: "read", path: "/etc/hostname" }).state === "granted") {
      const name = Deno.readTextFileSync("/etc/hostname").trim();
      if (name !== "") return name;
    }
  } catch {
    // not Linux, or not readable
  }
  try {
    const sys = Deno.permissions.querySync({ name: "sys", kind: "hostname" });
    return sys.state === "granted" ? Deno.hostname() : undefined;
  } catch {
    return undefined;
  }
}

/**
 * Decides which requests the HTTP port serves.
 *
 * Hosts: `localhost` (and `*.localhost`), the machine's host name and `NAME.local` (mDNS, as a
 * Raspberry Pi announces itself), any IP address literal (a rebinding attack needs a DNS name; an
 * address also reaches the router through port forwarding or a container's NAT), and the names
 * given with `--http-allow-host`.
 *
 * Origins for `/osc`: none (not a browser), the request's own (the router's pages: `/client`),
 * or one given with `--http-allow-origin` (`*` allows any).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { Access } from "./access.ts";
 * const access = new Access({ allowHosts: ["router.venue.example"], allowOrigins: [], token: "s3cret" });
 * assert.ok(access.hostAllowed("localhost:8080"));
 * assert.ok(access.hostAllowed("192.168.1.20:8080"));
 * assert.ok(access.hostAllowed("router.venue.example"));
 * assert.ok(!access.hostAllowed("evil.example:8080"));
 * assert.ok(access.originAllowed(undefined, "192.168.1.20:8080"));
 * assert.ok(access.originAllowed("http://192.168.1.20:8080", "192.168.1.20:8080"));
 * assert.ok(!access.originAllowed("http://evil.example", "192.168.1.20:8080"));
 * assert.ok(access.authorized(`Basic ${btoa("anyone:s3cret")}`));
 * assert.ok(access.authorized("Bearer s3cret"));
 * assert.ok(!access.authorized("Bearer guess"));
 * assert.ok(!access.authorized(undefined));
 * ```
 */
export class Access {
  #hosts: Set<string>;
  #anyOrigin: boolean;
  #origins: Set<string>;
  #tokenDigest: Uint8Array | undefined;

  /**
   * The checks for what the operator allowed.
   *
   * @param options what the operator allowed
   */
  constructor(options: AccessOptions) {
    this.#hosts = new Set(["localhost", ...options.allowHosts.map(hostOnly)]);
    const name = machineHostname()?.toLowerCase();
    if (name !== undefined) {
      this.#hosts.add(name);
      this.#hosts.add(`${name.split(".")[0]}.local`);
    }
    this.#anyOrigin = options.allowOrigins.includes("*");
    this.#origins = new Set(options.allowOrigins.filter((o) => o !== "*").map(normalizeOrigin));
    this.#tokenDigest = options.token === undefined ? undefined : digest(options.token);
  }

  /** Whether a token protects the status page. */
  get protected(): boolean {
    return this.#tokenDigest !== undefined;
  }

  /**
   * Whether the router answers to this `Host` header.
   *
   * @param host the header's value (undefined when absent: HTTP/1.0 clients)
   * @returns true when allowed
   */
  hostAllowed(host: string | undefined): boolean {
    if (host === undefined) return true; // no name to rebind: an HTTP/1.0 client typed an address
    const name = hostOnly(host);
    return isIP(name) !== 0 || this.#hosts.has(name) || name.endsWith(".localhost");
  }

  /**
   * Whether a page from `origin` may open `/osc` on the router reached as `host`.
   *
   * @param origin the `Origin` header (undefined: not a browser)
   * @param host the request's `Host` header
   * @returns true when allowed
   */
  originAllowed(origin: string | undefined, host: string | undefined): boolean {
    if (origin === undefined || this.#anyOrigin) return true;
    let url: URL;
    try {
      url = new URL(origin);
    } catch {
      return false; // "null" (sandboxed frames, file: pages) and garbage
    }
    if (host !== undefined && URL.canParse(`http://${host.trim()}`)) {
      if (url.host === new URL(`http://${host.trim()}`).host) return true;
    }
    return this.#origins.has(url.origin);
  }

  /**
   * Whether an `Authorization` header carries the token: HTTP Basic with any user name and the
   * token as password (browsers prompt for it), or `Bearer TOKEN` (Prometheus). Compared in
   * constant time. Always true when no token is set.
   *
   * @param authorization the header's value
   * @returns true when allowed
   */
  authorized(authorization: string | undefined): boolean {
    if (this.#tokenDigest === undefined) return true;
    if (authorization === undefined) return false;
    const [scheme = "", value = ""] = authorization.trim().split(/\s+/, 2);
    let candidate: string | undefined;
    if (scheme.toLowerCase() === "bearer") candidate = value;
    else if (scheme.toLowerCase() === "basic") {
      try {
        const decoded = new TextDecoder().decode(Uint8Array.from(atob(value), (c) => c.charCodeAt(0)));
        const colon = decoded.indexOf(":");
        candidate = colon < 0 ? undefined : decoded.slice(colon + 1);
      } catch {
        candidate = undefined;
      }
    }
    if (candidate === undefined) return false;
    return timingSafeEqual(digest(candidate), this.#tokenDigest);
  }
}

function digest(text: string): Uint8Array {
  return createHash("sha256").update(text).digest();
}

function normalizeOrigin(origin: string): string {
  try {
    return new URL(origin).origin;
  } catch {
    return origin.trim().toLowerCase();
  }
}
