/**
 * What the router asks of a cluster (`--cluster`): the shared state and the other instances
 * live elsewhere (`lib/cluster` adapts this to NATS); the router stays sans-I/O and only calls
 * these hooks and answers the adapter through `Router.deliverRemote`, `deliverRemotePrivate`
 * and `clusterChanged`.
 *
 * @module
 */

import type { ProtocolError } from "../protocol/error_code.ts";
import type { RegisterRequest } from "./register.ts";

/**
 * The router's side of a cluster of instances that behave as one router. Every call but
 * `claim` must return at once and never throw: routing never waits for the cluster.
 *
 * @example A cluster of one (what a test might inject)
 * ```ts
 * import assert from "node:assert/strict";
 * import type { ClusterLink } from "./cluster_link.ts";
 * const published: string[] = [];
 * const link: ClusterLink = {
 *   claim: () => Promise.resolve(undefined),
 *   joined: () => {},
 *   left: () => {},
 *   broadcast: (group) => void published.push(group),
 *   private: () => false,
 *   userNames: (_group, local) => local,
 * };
 * link.broadcast("band", "ana", new Uint8Array(4));
 * assert.deepEqual(published, ["band"]);
 * ```
 */
export interface ClusterLink {
  /**
   * Admits a register of a user that has no connection on this instance yet: the group's and
   * the user's passwords are checked against the shared state, and both are created there
   * (compare-and-set) when new. Resolves with nothing when admitted, or with the error to
   * refuse it with (`wrong_group_password`, `wrong_user_password`, `server_busy`,
   * `too_many_attempts`). `address` is who registers (`Session.address`): slow checks are
   * shared fairly between addresses.
   */
  claim(request: RegisterRequest, address: string): Promise<ProtocolError | undefined>;
  /** A user got its first connection on this instance. */
  joined(group: string, user: string): void;
  /** A user's last connection on this instance closed. */
  left(group: string, user: string): void;
  /** A member sent `packet` to its group (a view: copy it during the call if it is kept). */
  broadcast(group: string, sender: string, packet: Uint8Array): void;
  /**
   * A private message (already rewritten with the sender's name) for `target`.
   *
   * @returns whether `target` has connections on another instance (it was sent there)
   */
  private(group: string, target: string, packet: Uint8Array): boolean;
  /** The group's user names over the whole cluster, in join order, given this instance's users. */
  userNames(group: string, local: Iterable<string>): Iterable<string>;
}
