/**
 * The groups file (`--groups FILE`): groups the operator declares, with password hashes,
 * optionally with their users. TOML, read with smol-toml (TOML 1.0, no dependencies, errors
 * with line and column).
 *
 * ```toml
 * [groups.band]
 * password = "$scrypt$ln=15,r=8,p=1$...$..."   # tcposcrouter hash-password
 * users_only = true                            # only the users below may join (default false)
 *
 * [groups.band.users]
 * ana = "$scrypt$ln=15,r=8,p=1$...$..."
 * ```
 *
 * @module
 */

import { parse, TomlError } from "smol-toml";
import { ProtocolError } from "../protocol/error_code.ts";
import { checkName } from "../protocol/names.ts";
import { parsePasswordHash, type PasswordHash, PasswordHashError } from "./password_hash.ts";
import { readSmallTextFile } from "./read_small_file.ts";
import { errorMessage } from "../util/error_text.ts";

/** A group the operator declared. */
export interface DeclaredGroup {
  /** The group's name. */
  readonly name: string;
  /** The group password's hash: registers must match it, whoever comes first. */
  readonly password: PasswordHash;
  /** When true, only the declared users may join. */
  readonly usersOnly: boolean;
  /** Declared users by name, with their password hashes. */
  readonly users: ReadonlyMap<string, PasswordHash>;
}

/** What a groups file declares. */
export interface GroupsConfig {
  /** The declared groups by name. */
  readonly groups: ReadonlyMap<string, DeclaredGroup>;
}

/** A groups file that cannot be used: where, and what to fix. */
export class GroupsFileError extends SyntaxError {
  /**
   * A groups file that cannot be used, and where.
   *
   * @param message what is wrong and what to do (never a password or a hash)
   * @param line 1-based line, when known
   * @param column 1-based column, when known
   */
  constructor(message: string, readonly line?: number, readonly column?: number) {
    super(message);
    this.name = "GroupsFileError";
  }
}

/** The largest groups file read (a venue's file is a few KiB); a larger one, or one that is not a regular file, is refused. */
const MAX_GROUPS_FILE_BYTES = 1024 * 1024;

const GROUP_KEYS = new Set(["password", "users_only", "users"]);

type Table = Record<string, unknown>;
const isTable = (v: unknown): v is Table =>
  typeof v === "object" && v !== null && !Array.isArray(v) && !(v instanceof Date);

/**
 * Reads a groups file's text.
 *
 * @param text the file's content
 * @returns the declared groups
 * @throws {GroupsFileError} with the line and column of the first problem, when known
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { parseGroupsFile } from "./groups_file.ts";
 * const hash = "$scrypt$ln=15,r=8,p=1$c2FsdHNhbHRzYWx0c2FsdA$ZGlnZXN0ZGlnZXN0ZGlnZXN0ZGlnZXN0ZGlnZXN0MTI";
 * const config = parseGroupsFile(`[groups.band]\npassword = "${hash}"\n[groups.band.users]\nana = "${hash}"\n`);
 * assert.equal(config.groups.get("band")?.usersOnly, false);
 * assert.deepEqual([...config.groups.get("band")!.users.keys()], ["ana"]);
 * ```
 */
export function parseGroupsFile(text: string): GroupsConfig {
  let doc: Table;
  try {
    doc = parse(text) as Table;
  } catch (error) {
    if (!(error instanceof TomlError)) throw error;
    const first = error.message.split("\n")[0]!.replace(/^Invalid TOML document: /, "");
    throw new GroupsFileError(`not valid TOML: ${first}`, error.line, error.column);
  }
  const at = (needle: string, message: string) => {
    const { line, column } = locate(text, needle);
    return new GroupsFileError(message, line, column);
  };
  for (const key of Object.keys(doc)) {
    if (key !== "groups") throw at(key, `unknown top-level key '${key}': the file has one table, [groups.NAME]`);
  }
  const groups = new Map<string, DeclaredGroup>();
  const top = doc.groups ?? {};
  if (!isTable(top)) throw at("groups", "'groups' must be a table: write [groups.NAME] sections");
  for (const [name, entry] of Object.entries(top)) {
    const where = `[groups.${tomlKey(name)}]`;
    checkNameOrThrow("group", name, () => at(tomlKey(name), ""));
    if (!isTable(entry)) throw at(name, `${where} must be a table with a password`);
    for (const key of Object.keys(entry)) {
      if (!GROUP_KEYS.has(key)) {
        throw at(key, `unknown key '${key}' in ${where}: allowed are password, users_only and [groups.NAME.users]`);
      }
    }
    if (typeof entry.password !== "string") {
      throw at(name, `${where} needs password = "$scrypt$..." (make one with 'tcposcrouter hash-password')`);
    }
    const password = hashOrThrow(entry.password, `password of ${where}`, () => at(entry.password as string, ""));
    if (entry.users_only !== undefined && typeof entry.users_only !== "boolean") {
      throw at("users_only", `users_only in ${where} must be true or false`);
    }
    const users = new Map<string, PasswordHash>();
    const declaredUsers = entry.users ?? {};
    if (!isTable(declaredUsers)) throw at("users", `users in ${where} must be a table: [groups.NAME.users]`);
    for (const [user, hash] of Object.entries(declaredUsers)) {
      checkNameOrThrow("user", user, () => at(tomlKey(user), ""));
      if (typeof hash !== "string") {
        throw at(user, `user '${user}' of ${where} needs a hash string: ${tomlKey(user)} = "$scrypt$..."`);
      }
      users.set(user, hashOrThrow(hash, `password of user '${user}' in ${where}`, () => at(hash, "")));
    }
    const usersOnly = entry.users_only === true;
    if (usersOnly && users.size === 0) {
      throw at("users_only", `${where} has users_only = true but no [groups.NAME.users]: nobody could join`);
    }
    groups.set(name, { name, password, usersOnly, users });
  }
  return { groups };
}

function checkNameOrThrow(kind: "user" | "group", name: string, error: () => GroupsFileError): void {
  try {
    checkName(kind, name);
  } catch (e) {
    if (!(e instanceof ProtocolError)) throw e;
    const { line, column } = error();
    throw new GroupsFileError(`${kind} '${name}': ${e.message}`, line, column);
  }
}

function hashOrThrow(text: string, what: string, error: () => GroupsFileError): PasswordHash {
  try {
    return parsePasswordHash(text);
  } catch (e) {
    if (!(e instanceof PasswordHashError)) throw e;
    const { line, column } = error();
    throw new GroupsFileError(`${what}: ${e.message}`, line, column);
  }
}

/** A key as TOML would need it written. */
function tomlKey(name: string): string {
  return /^[A-Za-z0-9_-]+$/.test(name) ? name : JSON.stringify(name);
}

/** Best effort: the first line and column where `needle` appears outside a comment. */
function locate(text: string, needle: string): { line?: number; column?: number } {
  const lines = text.split("\n");
  for (const [i, line] of lines.entries()) {
    const column = line.indexOf(needle);
    if (column !== -1 && !line.trimStart().startsWith("#")) return { line: i + 1, column: column + 1 };
  }
  return {};
}

/**
 * Reads and checks a groups file.
 *
 * @param path the file
 * @returns the declared groups
 * @throws {GroupsFileError} when the file cannot be read or used (the message names the path)
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { loadGroupsFile } from "./groups_file.ts";
 * const config = await loadGroupsFile("examples/deploy/groups.toml");
 * assert.ok(config.groups.has("band"));
 * ```
 */
export async function loadGroupsFile(path: string): Promise<GroupsConfig> {
  let text: string;
  try {
    text = await readSmallTextFile(path, MAX_GROUPS_FILE_BYTES);
  } catch (error) {
    throw new GroupsFileError(`cannot read ${path}: ${errorMessage(error)}`);
  }
  try {
    return parseGroupsFile(text);
  } catch (error) {
    if (!(error instanceof GroupsFileError)) throw error;
    const where = error.line === undefined ? path : `${path}:${error.line}:${error.column ?? 1}`;
    throw new GroupsFileError(`${where}: ${error.message}`, error.line, error.column);
  }
}
