/**
 * The head of an HTTP/1.x request, parsed from bytes the router read itself: only what the HTTP
 * port serves (GET and HEAD without a body, and the WebSocket upgrade), with a size limit.
 *
 * @module
 */

/** The most bytes a request head may have (request line and headers). */
export const MAX_HEAD_BYTES = 16 * 1024;

/** A parsed request head. */
export interface RequestHead {
  method: string;
  /** The path, without the query. */
  path: string;
  /** "1.0" or "1.1". */
  version: string;
  /** Header values by lower-case name; repeated headers joined with ", ". */
  headers: Map<string, string>;
  /** Bytes the head took, including the blank line. */
  headBytes: number;
}

/** The request cannot be served; `status` is the HTTP status to answer before closing. */
export class BadRequest extends Error {
  /**
   * @param status 400, 414 or 431
   * @param message what is wrong
   */
  constructor(readonly status: number, message: string) {
    super(message);
    this.name = "BadRequest";
  }
}

/**
 * Parses a request head at the start of `bytes`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { parseRequestHead } from "./http_request.ts";
 * const text = "GET /status.json?x=1 HTTP/1.1\r\nHost: pi.local:8080\r\nAccept: a\r\naccept: b\r\n\r\nrest";
 * const head = parseRequestHead(new TextEncoder().encode(text))!;
 * assert.equal(head.path, "/status.json");
 * assert.equal(head.headers.get("host"), "pi.local:8080");
 * assert.equal(head.headers.get("accept"), "a, b");
 * assert.equal(head.headBytes, text.length - 4);
 * assert.equal(parseRequestHead(new TextEncoder().encode("GET / HTTP/1.1\r\n")), undefined); // incomplete
 * ```
 *
 * @param bytes what was read so far
 * @returns the head, or undefined when it is not complete yet
 * @throws {BadRequest} when the head is malformed or passes {@link MAX_HEAD_BYTES}
 */
export function parseRequestHead(bytes: Uint8Array): RequestHead | undefined {
  const end = findHeadEnd(bytes);
  if (end < 0) {
    if (bytes.length > MAX_HEAD_BYTES) throw new BadRequest(431, `request head over ${MAX_HEAD_BYTES} bytes`);
    return undefined;
  }
  if (end > MAX_HEAD_BYTES) throw new BadRequest(431, `request head over ${MAX_HEAD_BYTES} bytes`);
  // Latin-1: every byte is one character, nothing can fail to decode.
  const text = new TextDecoder("latin1").decode(bytes.subarray(0, end));
  const lines = text.split("\r\n");
  const requestLine = /^([A-Z]+) (\S+) HTTP\/(1\.[01])$/.exec(lines[0]!);
  if (requestLine === null) throw new BadRequest(400, "malformed request line");
  const [, method, target, version] = requestLine as unknown as [string, string, string, string];
  if (!target.startsWith("/")) throw new BadRequest(400, "the request target must be a path");
  const headers = new Map<string, string>();
  for (const line of lines.slice(1)) {
    const m = /^([!#$%&'*+.^_`|~0-9A-Za-z-]+):[ \t]*(.*?)[ \t]*$/.exec(line);
    if (m === null) throw new BadRequest(400, "malformed header line");
    const name = m[1]!.toLowerCase();
    const previous = headers.get(name);
    if (previous !== undefined && name === "host") throw new BadRequest(400, "more than one Host header");
    headers.set(name, previous === undefined ? m[2]! : `${previous}, ${m[2]}`);
  }
  const query = target.indexOf("?");
  return { method, path: query < 0 ? target : target.slice(0, query), version, headers, headBytes: end + 4 };
}

/** Offset of "\r\n\r\n", or -1. */
function findHeadEnd(bytes: Uint8Array): number {
  const limit = Math.min(bytes.length, MAX_HEAD_BYTES + 4);
  for (let i = 0; i + 3 < limit; i++) {
    if (bytes[i] === 13 && bytes[i + 1] === 10 && bytes[i + 2] === 13 && bytes[i + 3] === 10) return i;
  }
  return -1;
}
