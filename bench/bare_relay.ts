/**
 * The floor for the load benchmark: a bare relay that forwards every frame to every other
 * connection of its group. No validation, no passwords, no control messages: the group is
 * read once from a connection's first packet (the register), so fan-out matches the router's.
 * The same deframers, framing and batched outbox as the router, so the difference to the
 * router is the routing work itself.
 *
 * usage: deno run --allow-net bench/bare_relay.ts LENGTH_PREFIX_PORT SLIP_PORT
 */
import { createDecoder } from "../lib/framing/by_framing.ts";
import type { Framing } from "../lib/framing/detect.ts";
import type { Deframed } from "../lib/framing/errors.ts";
import { OutgoingPacket } from "../lib/framing/outgoing.ts";
import { decodePacket } from "../lib/osc/codec.ts";
import type { OscMessage } from "../lib/osc/types.ts";
import { Outbox } from "../lib/server/outbox.ts";

interface Peer {
  framing: Framing;
  outbox: Outbox;
}

const groups = new Map<string, Set<Peer>>();

async function serve(conn: Deno.TcpConn, framing: Framing) {
  conn.setNoDelay(true);
  const peer: Peer = {
    framing,
    outbox: new Outbox(conn, { maxQueueBytes: 64 << 20, onOverflow: () => conn.close(), onError: () => {} }),
  };
  let peers: Set<Peer> | undefined;
  const decoder = createDecoder(framing, { maxPacketBytes: 1 << 20 });
  const buffer = new Uint8Array(64 * 1024);
  const out: Deframed[] = [];
  try {
    for (;;) {
      const n = await conn.read(buffer);
      if (n === null) break;
      decoder.push(buffer.subarray(0, n), out);
      for (const item of out) {
        if (!(item instanceof Uint8Array)) continue;
        if (peers === undefined) {
          const group = (decodePacket(item) as OscMessage).args[2];
          const name = group?.type === "s" ? group.value : "";
          peers = groups.get(name) ?? new Set();
          groups.set(name, peers);
          peers.add(peer);
        }
        const packet = new OutgoingPacket(item);
        for (const other of peers) if (other !== peer) other.outbox.push(packet.frame(other.framing));
      }
      out.length = 0;
    }
  } catch {
    // reset by peer
  }
  peers?.delete(peer);
  peer.outbox.stop();
  try {
    conn.close();
  } catch {
    // closed
  }
}

async function listen(port: number, framing: Framing) {
  for await (const conn of Deno.listen({ hostname: "127.0.0.1", port })) serve(conn, framing);
}

const [lp, slip] = Deno.args.map(Number);
listen(lp!, "length-prefix");
listen(slip!, "slip");
