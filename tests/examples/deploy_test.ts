/** The deployment files as shipped: the Docker log volume, the systemd memory limit, the release archives. */
import assert from "node:assert/strict";
import { DEFAULT_SERVER_OPTIONS } from "../../lib/server/server.ts";

const ROOT = new URL("../../", import.meta.url).pathname;

Deno.test("deploy: the Dockerfile's log-volume tip works as the image's user", async () => {
  const dockerfile = await Deno.readTextFile(`${ROOT}examples/deploy/Dockerfile`);
  const tip = /^#\s+(docker run .*-v tcposcrouter-logs:(\/\S+) .*--log-dir (\/\S+))$/m.exec(dockerfile);
  assert.ok(tip, "the header gives a docker run with a named log volume");
  assert.equal(tip[2], tip[3], "the volume is mounted where --log-dir points");
  const lines = dockerfile.split("\n");
  const userLine = lines.findIndex((l) => /^USER \S+$/.test(l));
  const user = lines[userLine]!.split(" ")[1]!;
  // A new named volume takes the owner of the image's directory: it must exist, owned by the user.
  const mkdir = lines.findIndex((l) => l.startsWith("RUN ") && l.includes(`mkdir -p ${tip[2]}`));
  assert.ok(mkdir >= 0 && mkdir < userLine, `the image creates ${tip[2]} before USER`);
  assert.match(lines[mkdir]!, new RegExp(`chown ${user}:${user} ${tip[2]}`));
});

Deno.test("deploy: the systemd unit's MemoryMax fits a 1 GB Pi and covers the memory budget", async () => {
  const unit = await Deno.readTextFile(`${ROOT}examples/deploy/tcposcrouter.service`);
  const m = /^MemoryMax=(\d+)M$/m.exec(unit);
  assert.ok(m, "MemoryMax in MiB");
  const maxBytes = Number(m[1]) * 1024 * 1024;
  assert.ok(maxBytes <= 640 * 1024 * 1024, "leaves most of 1 GB to the system");
  // The budget plus the runtime (about 50-140 MB measured, README "Performance") must fit.
  assert.ok(maxBytes >= DEFAULT_SERVER_OPTIONS.maxMemoryBytes + 200 * 1024 * 1024, "budget + runtime fit");
  assert.match(unit, /--max-memory-bytes/, "the comment says why");
});

Deno.test("deploy: the systemd unit reloads the groups file on reload and lets the router list its addresses", async () => {
  const unit = await Deno.readTextFile(`${ROOT}examples/deploy/tcposcrouter.service`);
  assert.match(unit, /^ExecReload=\/bin\/kill -HUP \$MAINPID$/m, "systemctl reload sends SIGHUP");
  const families = /^RestrictAddressFamilies=(.*)$/m.exec(unit)?.[1]?.split(/\s+/) ?? [];
  // getifaddrs (Deno.networkInterfaces) asks the kernel over netlink; the OSC and HTTP ports need IPv4 and IPv6.
  for (const family of ["AF_INET", "AF_INET6", "AF_NETLINK"]) assert.ok(families.includes(family), family);
});

Deno.test("deploy: .ci/package makes one archive per target with binary, README, checksums and (Linux) the unit", async () => {
  const dir = await Deno.makeTempDir();
  try {
    for (const path of [".ci", "examples/deploy"]) await Deno.mkdir(`${dir}/${path}`, { recursive: true });
    await Deno.copyFile(`${ROOT}.ci/package`, `${dir}/.ci/package`);
    for (const file of ["RELEASE_README.md", "tcposcrouter.service"]) {
      await Deno.copyFile(`${ROOT}examples/deploy/${file}`, `${dir}/examples/deploy/${file}`);
    }
    await Deno.mkdir(`${dir}/dist`);
    const targets = ["x86_64-linux", "aarch64-linux", "aarch64-macos", "x86_64-windows.exe"];
    for (const t of targets) await Deno.writeTextFile(`${dir}/dist/tcposcrouter-${t}`, `binary for ${t}\n`);
    const run = (cmd: string, args: string[], cwd = dir) =>
      new Deno.Command(cmd, { args, cwd, stdout: "piped", stderr: "piped" }).output();
    const packed = await run("bash", [".ci/package", "9.9.9"]);
    assert.equal(packed.code, 0, new TextDecoder().decode(packed.stderr));
    const release = `${dir}/dist/release`;
    const names = [...Deno.readDirSync(release)].map((e) => e.name).sort();
    assert.deepEqual(names, [
      "SHA256SUMS",
      "tcposcrouter-9.9.9-aarch64-linux.tar.gz",
      "tcposcrouter-9.9.9-aarch64-macos.tar.gz",
      "tcposcrouter-9.9.9-x86_64-linux.tar.gz",
      "tcposcrouter-9.9.9-x86_64-windows.zip",
    ]);
    assert.equal((await run("sha256sum", ["-c", "SHA256SUMS"], release)).code, 0, "the archives' checksums");
    assert.equal((await run("tar", ["xzf", "tcposcrouter-9.9.9-aarch64-linux.tar.gz"], release)).code, 0);
    const pi = `${release}/tcposcrouter-9.9.9-aarch64-linux`;
    assert.deepEqual([...Deno.readDirSync(pi)].map((e) => e.name).sort(), [
      "README.md",
      "SHA256SUMS",
      "tcposcrouter",
      "tcposcrouter.service",
    ]);
    assert.equal(await Deno.readTextFile(`${pi}/tcposcrouter`), "binary for aarch64-linux\n");
    assert.ok(((await Deno.stat(`${pi}/tcposcrouter`)).mode! & 0o111) !== 0, "executable");
    assert.equal((await run("sha256sum", ["-c", "SHA256SUMS"], pi)).code, 0, "the files' checksums");
    assert.equal((await run("tar", ["xzf", "tcposcrouter-9.9.9-aarch64-macos.tar.gz"], release)).code, 0);
    const mac = [...Deno.readDirSync(`${release}/tcposcrouter-9.9.9-aarch64-macos`)].map((e) => e.name).sort();
    assert.deepEqual(mac, ["README.md", "SHA256SUMS", "tcposcrouter"], "no systemd unit outside Linux");
    const zip = await run("unzip", ["-l", "tcposcrouter-9.9.9-x86_64-windows.zip"], release);
    assert.match(new TextDecoder().decode(zip.stdout), /tcposcrouter-9\.9\.9-x86_64-windows\/tcposcrouter\.exe/);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
