/** A fake Session that records what the router sends and whether it closed. */
import type { Framing } from "../../lib/framing/detect.ts";
import type { OutgoingPacket } from "../../lib/framing/outgoing.ts";
import { decodePacket, encodeMessage } from "../../lib/osc/codec.ts";
import type { OscArg, OscMessage, OscPacket } from "../../lib/osc/types.ts";
import type { Session } from "../../lib/router/session.ts";

export class FakeSession implements Session {
  readonly received: Uint8Array[] = [];
  closed: string | undefined;
  readonly address: string;
  constructor(readonly peer: string, readonly framing: Framing = "length-prefix", address?: string) {
    this.address = address ?? peer;
  }
  send(packet: OutgoingPacket): void {
    if (this.closed !== undefined) throw new Error(`${this.peer}: send after close`);
    this.received.push(packet.packet);
  }
  close(reason: string): void {
    this.closed = reason;
  }
  /** Decoded packets received so far; clears the inbox. */
  take(): OscPacket[] {
    const out = this.received.map((p) => decodePacket(p));
    this.received.length = 0;
    return out;
  }
  /** Addresses of the messages received so far; clears the inbox. */
  addresses(): string[] {
    return this.take().map((p) => "address" in p ? p.address : "#bundle");
  }
}

export const s = (value: string): OscArg => ({ type: "s", value });
export const msg = (address: string, ...args: OscArg[]): Uint8Array => encodeMessage({ address, args });
export const register = (user: string, group = "band", id?: OscArg, userPw = "upw", groupPw = "gpw") =>
  msg("/oscrouter/register", s(user), s(userPw), s(group), s(groupPw), ...(id ? [id] : []));

/** The single error a session got, as [code, message, context]. */
export function errorOf(p: OscPacket): [string, string, string] {
  const m = p as OscMessage;
  if (m.address !== "/oscrouter/error") throw new Error(`expected an error, got ${m.address}`);
  return m.args.map((a) => (a as { value: string }).value) as [string, string, string];
}
