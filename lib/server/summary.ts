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
 * one connection is open (an idle router stays quiet). Counts read as "label: n", right for any n
 * (never "1 users").
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
        "Connections: {connections}, groups: {groups}, users: {users}; packets/s in: {inRate}, out: {outRate}; bytes queued: {pending}; memory budget: {used} of {limit} bytes; clients cut off: {cut}; connections refused: {refused}",
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
