/**
 * The faults `tools/mutate.ts` puts into the code, one at a time. Each is a small, realistic
 * mistake: a comparison off by one, a check left out, the wrong variable. Each must make at least
 * one of its tests fail; a fault that survives is a missing test. Add a fault for every bug found.
 *
 * `search` must occur exactly once in `file` (the run refuses to start otherwise); keep it short
 * and on a line of logic, so that reformatting elsewhere does not make it stale. `tests` are the
 * narrowest test files that should notice the fault.
 *
 * @module
 */

/** One fault: where it goes, what it is, and the tests that must notice it. */
export interface MutationFault {
  /** Short unique name, for `--only`. */
  id: string;
  /** File it goes into, relative to the repository root. */
  file: string;
  /** Text replaced; must occur exactly once in `file`. */
  search: string;
  /** What replaces it. */
  replace: string;
  /** One line: the mistake, as a bug report would say it. */
  description: string;
  /** Test files (relative to the root) that must fail with the fault in. */
  tests: string[];
}

const OSC_TESTS = ["tests/osc/validate_test.ts", "tests/osc/edges_test.ts", "tests/osc/codec_test.ts"];
const PRIVATE_TESTS = ["tests/router/private_message_test.ts", "tests/router/router_test.ts"];
const FRAMING_TESTS = [
  "tests/framing/length_prefix_test.ts",
  "tests/framing/length_prefix_edges_test.ts",
  "tests/framing/slip_test.ts",
  "tests/framing/gather_test.ts",
  "tests/framing/reused_buffer_test.ts",
];

/** The list, grouped by layer; the first group is the survivors of the trial in issue 13. */
export const FAULTS: MutationFault[] = [
  // Issue 13: faults the suite did not notice.
  {
    id: "osc-blob-padding",
    file: "lib/osc/type_tags.ts",
    search: `if (bytes[i] !== 0) throw new OscDecodeError("blob padding is not NUL", i);`,
    replace: "",
    description: "a blob whose padding is not NUL is accepted",
    tests: OSC_TESTS,
  },
  {
    id: "osc-bundle-depth-limit",
    file: "lib/osc/validate.ts",
    search: "if (depth > MAX_BUNDLE_DEPTH)",
    replace: "if (depth >= MAX_BUNDLE_DEPTH)",
    description: "a bundle nested exactly at the depth limit is refused",
    tests: OSC_TESTS,
  },
  {
    id: "private-numeric-target-tag",
    file: "lib/router/private_message.ts",
    search: "if (tag !== CAPITAL_S) out[tags + 1] = SMALL_S;",
    replace: "",
    description: "a Pd private message whose target is a float keeps the tag 'f' for the sender's name",
    tests: PRIVATE_TESTS,
  },
  {
    id: "private-name-padding",
    file: "lib/router/private_message.ts",
    search: "const nameBytes = stringSize(name.length);",
    replace: "const nameBytes = Math.ceil(name.length / 4) * 4;",
    description:
      "the private-message rewrite pads the sender's name wrongly (no NUL when its length is a multiple of 4)",
    tests: PRIVATE_TESTS,
  },
  {
    id: "ws-slow-consumer-bound",
    file: "lib/http/websocket_session.ts",
    search: "maxQueueBytes: options.maxQueueBytes,",
    replace: "maxQueueBytes: Infinity,",
    description: "a WebSocket client that stops reading is never cut off",
    tests: ["tests/http/hostile_test.ts"],
  },
  {
    id: "ws-not-counted",
    file: "lib/server/server.ts",
    search: "return this.#connections.size + this.#externalSessions.size;",
    replace: "return this.#connections.size;",
    description: "WebSocket sessions are not counted against --max-connections when TCP clients connect afterwards",
    tests: ["tests/http/http_test.ts"],
  },
  {
    id: "cli-osc11-port-variable",
    file: "lib/cli/options.ts",
    search: `    "TCPOSCROUTER_OSC11_PORT",`,
    replace: `    "TCPOSCROUTER_OSC10_PORT",`,
    description: "TCPOSCROUTER_OSC11_PORT is read from the wrong variable",
    tests: ["tests/cli/options_table_test.ts", "tests/cli/options_test.ts"],
  },
  {
    id: "cli-register-timeout-unit",
    file: "lib/cli/options.ts",
    search: `"time a new connection has to register",\n    secondsAsMs(1, 86_400),`,
    replace: `"time a new connection has to register",\n    integer(1, 86_400),`,
    description: "--register-timeout is taken in milliseconds instead of seconds",
    tests: ["tests/cli/options_table_test.ts", "tests/cli/options_test.ts"],
  },
  {
    id: "metrics-packets-sent",
    file: "lib/http/status.ts",
    search: `[["", s.totals.packetsOut]]`,
    replace: `[["", s.totals.packetsIn]]`,
    description: "tcposcrouter_packets_sent_total reports packets received",
    tests: ["tests/http/metrics_test.ts"],
  },
  {
    id: "metrics-refused-connections",
    file: "lib/http/status.ts",
    search: "    s.refusedConnections,",
    replace: "    s.slowConsumers,",
    description: "tcposcrouter_refused_connections_total reports slow consumers",
    tests: ["tests/http/metrics_test.ts"],
  },
  {
    id: "bridge-backoff-constant",
    file: "lib/bridge/bridge.ts",
    search: "initialBackoffMs * 2 ** failures++",
    replace: "initialBackoffMs",
    description: "the bridge's reconnect delay never grows",
    tests: ["tests/bridge/bridge_test.ts"],
  },
  {
    id: "lp-decoder-keeps-view",
    file: "lib/framing/length_prefix.ts",
    search: "this.#gather.append(chunk, pos, pos + take);",
    replace: `{
          // "Zero copy": the first piece of a frame that spans reads is kept as a view of the chunk
          // and copied in only when the next piece arrives.
          const lazy = this as unknown as { view?: Uint8Array };
          if (this.#gatheredBytes === 0) lazy.view = chunk.subarray(pos, pos + take);
          else {
            if (lazy.view !== undefined) this.#gather.append(lazy.view, 0, lazy.view.length);
            lazy.view = undefined;
            this.#gather.append(chunk, pos, pos + take);
          }
        }`,
    description: "the length-prefix decoder keeps a view of the reused read buffer for a frame that spans reads",
    tests: FRAMING_TESTS,
  },

  // lib/osc
  {
    id: "osc-string-padding",
    file: "lib/osc/type_tags.ts",
    search: `if (bytes[i] !== 0) throw new OscDecodeError("string padding is not NUL", i);`,
    replace: "",
    description: "a string whose padding is not NUL is accepted",
    tests: OSC_TESTS,
  },
  {
    id: "osc-array-depth-limit",
    file: "lib/osc/validate.ts",
    search: "if (++depth > MAX_ARRAY_DEPTH)",
    replace: "if (++depth >= MAX_ARRAY_DEPTH)",
    description: "arrays nested exactly at the depth limit are refused",
    tests: OSC_TESTS,
  },
  {
    id: "osc-control-address-exact",
    file: "lib/osc/validate.ts",
    search: "return next === SLASH || next === 0;",
    replace: "return next === SLASH;",
    description: "a message addressed exactly '/oscrouter' is forwarded as if it were not the router's",
    tests: OSC_TESTS,
  },
  {
    id: "osc-missing-comma",
    file: "lib/osc/validate.ts",
    search: `if (bytes[tags] !== COMMA) throw new OscDecodeError("type tag string does not begin with ','", tags);`,
    replace: "",
    description: "a message whose type tag string does not begin with ',' is accepted",
    tests: OSC_TESTS,
  },
  {
    id: "osc-bundle-tag-nul",
    file: "lib/osc/validate.ts",
    search: "for (let i = 0; i < 8; i++) {",
    replace: "for (let i = 0; i < 7; i++) {",
    description: "a bundle whose '#bundle' is not followed by NUL ('#bundleX') is accepted",
    tests: OSC_TESTS,
  },
  {
    id: "osc-int64-unsigned",
    file: "lib/osc/codec.ts",
    search: `return { type: "h", value: view.getBigInt64(pos) };`,
    replace: `return { type: "h", value: view.getBigUint64(pos) };`,
    description: "a negative int64 ('h') decodes as a large positive number",
    tests: OSC_TESTS,
  },
  {
    id: "osc-int64-range",
    file: "lib/osc/codec.ts",
    search: "arg.value >= 2n ** 63n",
    replace: "arg.value > 2n ** 63n",
    description: "the encoder accepts 2^63 as an int64 (and wraps it to -2^63)",
    tests: OSC_TESTS,
  },
  {
    id: "osc-timetag-signed",
    file: "lib/osc/codec.ts",
    search: "timetag: view.getBigUint64(start + 8)",
    replace: "timetag: view.getBigInt64(start + 8)",
    description: "a bundle timetag of 2^63 or more decodes as a negative number",
    tests: OSC_TESTS,
  },

  // lib/framing
  {
    id: "lp-zero-length",
    file: "lib/framing/length_prefix.ts",
    search: "if (size <= 0) {",
    replace: "if (size < 0) {",
    description: "a zero length prefix is taken as an empty packet instead of a stream out of sync",
    tests: FRAMING_TESTS,
  },
  {
    id: "lp-size-limit",
    file: "lib/framing/length_prefix.ts",
    search: "} else if (size > this.#maxPacketBytes) {",
    replace: "} else if (size >= this.#maxPacketBytes) {",
    description: "a length-prefixed packet of exactly --max-packet-bytes is refused",
    tests: FRAMING_TESTS,
  },
  {
    id: "lp-misaligned",
    file: "lib/framing/length_prefix.ts",
    search: "out.push(size % 4 === 0 ? chunk.subarray(pos, pos + size) : new MisalignedFrameError(size));",
    replace: "out.push(chunk.subarray(pos, pos + size));",
    description: "a length-prefixed frame whose size is not a multiple of 4 is passed on when it fits in one read",
    tests: FRAMING_TESTS,
  },
  {
    id: "slip-esc-end",
    file: "lib/framing/slip.ts",
    search: "if (byte === ESC_END) bytes[n++] = END;",
    replace: "if (byte === ESC_END) bytes[n++] = ESC;",
    description: "SLIP ESC ESC_END decodes to ESC instead of END",
    tests: FRAMING_TESTS,
  },
  {
    id: "slip-encode-count",
    file: "lib/framing/slip.ts",
    search: "if (byte === END || byte === ESC) specials++;",
    replace: "if (byte === END) specials++;",
    description: "the SLIP encoder does not count ESC bytes when it sizes the frame",
    tests: FRAMING_TESTS,
  },
  {
    id: "slip-size-limit",
    file: "lib/framing/slip.ts",
    search: "size <= this.#maxPacketBytes ? chunk.subarray(start, end)",
    replace: "size < this.#maxPacketBytes ? chunk.subarray(start, end)",
    description: "a SLIP packet of exactly --max-packet-bytes in one read is refused",
    tests: FRAMING_TESTS,
  },
  {
    id: "slip-esc-before-end",
    file: "lib/framing/slip.ts",
    search: "if (this.#escaped && !this.#dropping) {",
    replace: "if (false) {",
    description: "a SLIP frame ending in ESC END (a dangling escape) is passed on",
    tests: FRAMING_TESTS,
  },
  {
    id: "gather-take-not-given-back",
    file: "lib/framing/gather_buffer.ts",
    search: "this.#grant?.(-bytes.length);",
    replace: "",
    description: "a packet gathered over several reads is never given back to the memory budget",
    tests: FRAMING_TESTS,
  },
  {
    id: "detect-bundle-slip",
    file: "lib/framing/detect.ts",
    search: "|| firstByte === 0x23",
    replace: "",
    description: "a SLIP client whose first packet is a bundle without a leading END is not recognised",
    tests: ["tests/framing/detect_test.ts"],
  },
  {
    id: "outgoing-frame-cache-shared",
    file: "lib/framing/outgoing.ts",
    search: `if (framing === "slip") return this.#slip ??= encodeFrame(framing, this.packet);`,
    replace: `if (framing === "slip") return this.#lengthPrefixed ??= encodeFrame(framing, this.packet);`,
    description: "a packet framed for a length-prefix client first is sent to SLIP clients length-prefixed too",
    tests: ["tests/framing/detect_test.ts"],
  },

  // lib/router
  {
    id: "router-echo-to-sender",
    file: "lib/router/router.ts",
    search: "if (user === member.user) continue;",
    replace: "",
    description: "a broadcast is echoed back to the sender",
    tests: ["tests/router/router_test.ts"],
  },
  {
    id: "router-user-takeover",
    file: "lib/router/router.ts",
    search: "declaredUser === undefined && user !== undefined && !user.password.matches(",
    replace: "declaredUser === undefined && user === undefined && !user.password.matches(",
    description: "anyone can join as an existing user with any user password",
    tests: ["tests/router/router_test.ts", "tests/router/access_test.ts"],
  },
  {
    id: "router-empty-group-kept",
    file: "lib/router/router.ts",
    search: "if (group.users.size === 0) {",
    replace: "if (group.users.size < 0) {",
    description: "a group whose last user left is kept, with its old password",
    tests: ["tests/router/router_test.ts"],
  },
  {
    id: "router-pending-keeps-view",
    file: "lib/router/router.ts",
    search: "pending.queue.push(packet.slice());",
    replace: "pending.queue.push(packet);",
    description: "packets held while a password is checked are views of the reused read buffer",
    tests: ["tests/router/access_test.ts"],
  },
  {
    id: "router-pending-register-view",
    file: "lib/router/router.ts",
    search:
      "sent next).\n    request = { ...request, userPassword: request.userPassword.slice(), groupPassword: request.groupPassword.slice() };",
    replace: "sent next).\n    request = { ...request };",
    description: "a register waiting for a password check keeps its passwords as views of the reused read buffer",
    tests: ["tests/access/pending_test.ts"],
  },
  {
    id: "register-name-limit",
    file: "lib/protocol/names.ts",
    search: "if (bytes > MAX_NAME_BYTES) {",
    replace: "if (bytes > MAX_NAME_BYTES + 1) {",
    description: "a user or group name one byte over the limit is accepted",
    tests: ["tests/router/register_test.ts"],
  },

  {
    id: "register-password-limit",
    file: "lib/router/register.ts",
    search: "if (bytes.length > MAX_PASSWORD_BYTES) {",
    replace: "if (bytes.length > MAX_PASSWORD_BYTES + 1) {",
    description: "a password one byte over the limit is accepted",
    tests: ["tests/router/register_test.ts"],
  },

  {
    id: "arg-text-float32",
    file: "lib/router/arg_text.ts",
    search: "if (Math.fround(shortest) === value)",
    replace: "if (shortest === value)",
    description: "a float32 id or target such as 0.1 is written as 0.10000000149011612",
    tests: ["tests/router/arg_text_test.ts", "tests/router/router_test.ts"],
  },
  {
    id: "event-log-recent-drops-oldest",
    file: "lib/router/event_log.ts",
    search: "for (let i = 1; i <= n; i++)",
    replace: "for (let i = 1; i < n; i++)",
    description: "the operator's event list leaves out its oldest event",
    tests: ["tests/router/events_test.ts"],
  },

  // lib/access
  {
    id: "attempts-lock-not-growing",
    file: "lib/access/attempt_limiter.ts",
    search: "o.firstLockMs * 2 ** Math.min(state.level, 40)",
    replace: "o.firstLockMs",
    description: "repeated failed registers from one address are locked out for the first period only, never longer",
    tests: ["tests/access/attempt_limiter_test.ts"],
  },
  {
    id: "attempts-rate-off-by-one",
    file: "lib/access/attempt_limiter.ts",
    search: "if (state.tokens < 1) {",
    replace: "if (state.tokens < 0) {",
    description: "an address may register once more than its burst before it is refused",
    tests: ["tests/access/attempt_limiter_test.ts"],
  },

  {
    id: "verifier-remembers-failures",
    file: "lib/access/password_verifier.ts",
    search: "if (ok) this.#remember(key);",
    replace: "this.#remember(key);",
    description: "a wrong password, once checked, is remembered as right and let in on the next try",
    tests: ["tests/access/password_verifier_test.ts", "tests/access/guessing_test.ts"],
  },
  {
    id: "verifier-per-address-off-by-one",
    file: "lib/access/fair_slots.ts",
    search: "if (mine >= o.maxPerAddress)",
    replace: "if (mine > o.maxPerAddress)",
    description: "one address may have one password check more in flight than its share",
    tests: ["tests/access/password_verifier_test.ts"],
  },
  {
    id: "verifier-concurrency",
    file: "lib/access/fair_slots.ts",
    search: "const mustWait = this.#running >= o.concurrency;",
    replace: "const mustWait = this.#running > o.concurrency;",
    description: "one scrypt check more than the concurrency runs at once",
    tests: ["tests/access/password_verifier_test.ts"],
  },
  {
    id: "groups-users-only-empty",
    file: "lib/access/groups_file.ts",
    search: "if (usersOnly && users.size === 0) {",
    replace: "if (false) {",
    description: "a users_only group with no users (nobody can ever join) is accepted without a word",
    tests: ["tests/access/groups_file_test.ts"],
  },

  // lib/limits
  {
    id: "budget-trycharge-sheds",
    file: "lib/limits/memory_budget.ts",
    search: "if (this.#used + deltaBytes > this.limitBytes) return false;",
    replace: "",
    description: "tryCharge cuts other clients off instead of refusing when the budget is full",
    tests: ["tests/limits/memory_budget_test.ts"],
  },
  {
    id: "budget-client-bytes-spare",
    file: "lib/limits/memory_budget.ts",
    search: "if (holder.spare !== true) n += bytes;",
    replace: "n += bytes;",
    description: "the spare chunk pool is counted as memory clients hold",
    tests: ["tests/limits/memory_budget_test.ts"],
  },

  // lib/server
  {
    id: "server-per-address-off-by-one",
    file: "lib/server/server.ts",
    search: "sessions.size >= maxConnectionsPerAddress",
    replace: "sessions.size > maxConnectionsPerAddress",
    description: "one address may open one connection more than --max-connections-per-address",
    tests: ["tests/server/address_limits_test.ts"],
  },
  {
    id: "outbox-bound-off",
    file: "lib/server/outbox.ts",
    search: `if (this.#pendingBytes + n > this.#maxQueueBytes) return this.#overflow("queue");`,
    replace: "",
    description: "a TCP client that stops reading is never cut off for --max-queue-bytes",
    tests: ["tests/server/outbox_test.ts"],
  },
  {
    id: "chunk-pool-trim-noop",
    file: "lib/server/chunk_pool.ts",
    search: "if (this.#free.length > chunks) this.shrink((this.#free.length - chunks) * CHUNK_BYTES);",
    replace: "",
    description: "the pool of free 64 KiB chunks is never trimmed after a burst",
    tests: ["tests/server/chunk_pool_test.ts"],
  },

  // lib/http
  {
    id: "http-token-ignored",
    file: "lib/http/access.ts",
    search: "if (candidate === undefined) return false;",
    replace: "if (candidate === undefined) return true;",
    description: "an Authorization header of an unknown scheme passes the --http-token check",
    tests: ["tests/http/access_test.ts"],
  },
  {
    id: "http-host-suffix",
    file: "lib/http/access.ts",
    search: `|| name.endsWith(".localhost");`,
    replace: `|| name.endsWith("localhost");`,
    description: "a Host such as 'evillocalhost' passes the DNS-rebinding check",
    tests: ["tests/http/access_test.ts"],
  },
  {
    id: "http-per-address-off-by-one",
    file: "lib/http/http_server.ts",
    search: "if ((plainByAddress.get(key) ?? 0) >= limits.maxConnectionsPerAddress) {",
    replace: "if ((plainByAddress.get(key) ?? 0) > limits.maxConnectionsPerAddress) {",
    description: "one address may open one plain HTTP connection more than its share",
    tests: ["tests/http/address_share_test.ts"],
  },

  {
    id: "ws-max-payload-off",
    file: "lib/http/http_server.ts",
    search: "maxPayload: maxPacketBytes,",
    replace: "maxPayload: 0,",
    description: "a WebSocket message over --max-packet-bytes is buffered whole before it is refused",
    tests: ["tests/http/hostile_test.ts"],
  },
  {
    id: "event-streams-cap-off-by-one",
    file: "lib/http/http_server.ts",
    search: "if (streams.size >= limits.maxEventStreams) {",
    replace: "if (streams.size > limits.maxEventStreams) {",
    description: "one live status page more than the cap is let in",
    tests: ["tests/http/access_test.ts"],
  },
  {
    id: "ws-write-timeout-off",
    file: "lib/http/client_writer.ts",
    search: "if (idleMs >= this.#options.writeTimeoutMs) this.#options.onWriteTimeout();",
    replace: "if (false) this.#options.onWriteTimeout();",
    description: "a WebSocket client or event stream that takes nothing is never cut off by --write-timeout",
    tests: ["tests/http/hostile_test.ts", "tests/http/access_test.ts"],
  },

  // lib/net, lib/bridge, lib/cli (not options.ts, which is being rewritten)
  {
    id: "net-ipv6-key-full-address",
    file: "lib/net/address.ts",
    search: "groups.slice(0, 4)",
    replace: "groups.slice(0, 8)",
    description: "IPv6 clients are keyed by their full address instead of their /64, so one host has 2^64 shares",
    tests: ["tests/net/address_test.ts"],
  },
  {
    id: "net-ipv4-mapped",
    file: "lib/net/address.ts",
    search: `startsWith("::ffff:")`,
    replace: `startsWith("::fffe:")`,
    description: "an IPv4-mapped IPv6 address is not shown and keyed as the IPv4 address it is",
    tests: ["tests/net/address_test.ts"],
  },
  {
    id: "bridge-loopback-range",
    file: "lib/bridge/source_filter.ts",
    search: String.raw`/^127\.\d+\.\d+\.\d+$/.test(a)`,
    replace: `a === "127.0.0.1"`,
    description: "a UDP app on 127.0.0.2 is refused by the default loopback filter",
    tests: ["tests/bridge/source_filter_test.ts"],
  },
  {
    id: "bridge-udp-view",
    file: "lib/bridge/bridge.ts",
    search: "this.#udp.send(packet.slice(), port, hostname);",
    replace: "this.#udp.send(packet, port, hostname);",
    description: "the bridge hands node:dgram a view of the reused read buffer instead of a copy",
    tests: ["tests/bridge/bridge_test.ts"],
  },
  {
    id: "log-sink-idle-recheck",
    file: "lib/cli/buffered_sink.ts",
    search: "if (this.#queue.length > 0 || this.#unreported > 0) this.#schedule();",
    replace: "",
    description: "a line logged as the log's last write ends waits in memory for the next line (the 15 s silence)",
    tests: ["tests/cli/logging_test.ts"],
  },
  {
    id: "ws-frame-16-bit-boundary",
    file: "lib/http/websocket_frame.ts",
    search: "if (payloadBytes <= 0xffff) {",
    replace: "if (payloadBytes < 0xffff) {",
    description: "a 65,535-byte WebSocket payload gets a 64-bit length although a 16-bit one was announced",
    tests: ["tests/http/ws_fanout_test.ts"],
  },
  {
    id: "router-cluster-claim-view",
    file: "lib/router/router.ts",
    search:
      "decision need copies.\n    request = { ...request, userPassword: request.userPassword.slice(), groupPassword: request.groupPassword.slice() };",
    replace: "decision need copies.\n    request = { ...request };",
    description: "a register waiting for the cluster keeps its passwords as views of the reused read buffer",
    tests: ["tests/cluster/register_copy_test.ts"],
  },
  {
    id: "token-bucket-no-burst-cap",
    file: "lib/util/token_bucket.ts",
    search: "Math.min(this.#burst, this.#tokens + (now - this.#at) * this.#perMs)",
    replace: "this.#tokens + (now - this.#at) * this.#perMs",
    description: "a rate bucket saves without bound while idle, so a quiet client may then burst without limit",
    tests: ["tests/server/read_rate_test.ts", "tests/cli/logging_test.ts"],
  },
  {
    id: "bridge-queue-unbounded",
    file: "lib/bridge/bridge.ts",
    search: "if (this.#queuedBytes + packet.length > this.#options.maxQueueBytes) {",
    replace: "if (false) {",
    description: "the bridge queues the app's packets without bound while it is disconnected",
    tests: ["tests/bridge/bridge_test.ts"],
  },
  {
    id: "log-sink-bound-ignores-writing",
    file: "lib/cli/buffered_sink.ts",
    search: "this.#queuedBytes + this.#writingBytes + line.length > this.#maxBufferedBytes",
    replace: "this.#queuedBytes + line.length > this.#maxBufferedBytes",
    description: "the log buffer's bound forgets the bytes being written, so a stalled disk holds twice the bound",
    tests: ["tests/cli/logging_test.ts"],
  },
  {
    id: "log-escape-bidi",
    file: "lib/cli/log_escape.ts",
    search: String.raw`const UNSAFE = /[\x00-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069]/g;`,
    replace: String.raw`const UNSAFE = /[\x00-\x1f\x7f-\x9f\u2028\u2029]/g;`,
    description: "bidirectional overrides in a user name reach the log unescaped",
    tests: ["tests/cli/logging_test.ts"],
  },
];
