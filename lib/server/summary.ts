/**
 * A summary log line every interval while anyone is connected.
 *
 * @module
 */

import { getLogger } from "@logtape/logtape";
import type { Server } from "./server.ts";

const logger = getLogger(["tcposcrouter", "summary"]);

/**
 * Logs connections, groups, users and packet rates every `intervalMs` while at least
 * one connection is open (an idle router stays quiet).
 *
 * @param server the running server
 * @param intervalMs how often
 * @returns a handle to stop it
 */
export function startSummary(server: Server, intervalMs: number): { stop: () => void } {
  const c = server.router.counters;
  let lastIn = c.packetsIn, lastOut = c.packetsOut, lastAt = Date.now(), wasActive = false;
  const timer = setInterval(() => {
    const now = Date.now();
    const seconds = (now - lastAt) / 1000;
    const inRate = (c.packetsIn - lastIn) / seconds, outRate = (c.packetsOut - lastOut) / seconds;
    lastIn = c.packetsIn;
    lastOut = c.packetsOut;
    lastAt = now;
    const active = server.connectionCount > 0;
    if (active || wasActive) {
      logger.info(
        "{connections} connections, {groups} groups, {users} users; {inRate} packets/s in, {outRate} out; {pending} bytes queued; memory budget {used} of {limit} bytes, {cut} clients cut off, {refused} connections refused so far",
        {
          connections: server.connectionCount,
          groups: server.router.groupCount,
          users: server.router.userCount,
          inRate: inRate.toFixed(1),
          outRate: outRate.toFixed(1),
          pending: server.pendingBytes,
          used: server.budget.usedBytes,
          limit: server.budget.limitBytes,
          cut: server.slowConsumers + server.budget.shedCount,
          refused: server.refusedConnections,
        },
      );
    }
    wasActive = active;
  }, intervalMs);
  return { stop: () => clearInterval(timer) };
}
