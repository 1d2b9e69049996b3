// A throwaway OpenSSH server on the loopback, for the remote-target tests (test/remote.test.mjs)
// and benchmarks (bench/fanout.js): sshd -D -e on a free port of 127.0.0.1 and 127.0.0.2 (or the
// loopback addresses asked for: all of 127/8 is the loopback on Linux), a host
// key and client keys generated in a fresh 0700 directory, logging in as the current user (root:
// sshd needs /run/sshd and to switch to the login user). No dependencies beyond OpenSSH.
import { spawn } from "node:child_process";
import fs from "node:fs";
import net from "node:net";
import os from "node:os";
import path from "node:path";
import { tool, toolPath } from "./test-tools.mjs";

/** A port nobody listens on (bound, then closed). */
export async function freePort(host = "127.0.0.1") {
  const server = net.createServer();
  await new Promise((resolve) => server.listen(0, host, resolve));
  const { port } = server.address();
  await new Promise((resolve) => server.close(resolve));
  return port;
}

/** Generates an ed25519 key pair at `file` (and `file.pub`). */
function keygen(file) {
  return new Promise((resolve, reject) => {
    const child = spawn("ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-C", "manhole-test", "-f", file], {
      stdio: ["ignore", "ignore", "pipe"],
    });
    let err = "";
    child.stderr.setEncoding("utf8").on("data", (d) => (err += d));
    child.on("error", reject);
    child.on("exit", (code) => (code === 0 ? resolve() : reject(new Error(`ssh-keygen exited ${code}: ${err}`))));
  });
}

/**
 * Starts sshd; resolves to { port, dir, addresses, ssh, sshWrongKey, log(), stop() } once it
 * listens on every address. `ssh` is a MANHOLE_SSH template that logs in with the authorised client key (no
 * host key checks, no prompts); `sshWrongKey` one with a key the server does not know. stop()
 * ends sshd and removes the directory.
 */
export async function startSshd({ addresses = ["127.0.0.1", "127.0.0.2"] } = {}) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "mh-sshd-"));
  fs.chmodSync(dir, 0o700);
  await keygen(path.join(dir, "host_key"));
  await keygen(path.join(dir, "client_key"));
  await keygen(path.join(dir, "other_key"));
  fs.copyFileSync(path.join(dir, "client_key.pub"), path.join(dir, "authorized_keys"));
  // OpenSSH refuses to start without its privilege separation directory; the package creates it
  // when its service starts, which a container never does.
  fs.mkdirSync("/run/sshd", { recursive: true, mode: 0o755 });
  const port = await freePort();
  const config = path.join(dir, "sshd_config");
  fs.writeFileSync(
    config,
    [
      `Port ${port}`,
      ...addresses.map((a) => `ListenAddress ${a}`),
      `HostKey ${path.join(dir, "host_key")}`,
      `AuthorizedKeysFile ${path.join(dir, "authorized_keys")}`,
      `PidFile ${path.join(dir, "sshd.pid")}`,
      "UsePAM no",
      "StrictModes no",
      "PermitRootLogin yes",
      "PasswordAuthentication no",
      "KbdInteractiveAuthentication no",
      "PubkeyAuthentication yes",
      "MaxStartups 100",
      "MaxSessions 100",
      "",
    ].join("\n"),
  );
  const child = spawn(toolPath(tool("sshd")), ["-D", "-e", "-f", config], { stdio: ["ignore", "ignore", "pipe"] });
  let log = "";
  child.stderr.setEncoding("utf8").on("data", (d) => (log += d));
  const exit = new Promise((resolve) => child.on("exit", resolve));
  const stop = async () => {
    if (child.exitCode === null && child.signalCode === null) child.kill("SIGTERM");
    await exit;
    fs.rmSync(dir, { recursive: true, force: true });
  };
  const deadline = Date.now() + 10_000;
  while (!addresses.every((a) => log.includes(`listening on ${a} `))) {
    if (child.exitCode !== null) {
      await stop();
      throw new Error(`sshd exited: ${log}`);
    }
    if (Date.now() > deadline) {
      await stop();
      throw new Error(`sshd did not start: ${log}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  const sshWith = (key) =>
    `ssh -i ${path.join(dir, key)} -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null -o BatchMode=yes -o LogLevel=ERROR`;
  return {
    port,
    dir,
    addresses,
    ssh: sshWith("client_key"),
    sshWrongKey: sshWith("other_key"),
    log: () => log,
    stop,
  };
}
