// A private PostgreSQL server for the tests: Debian's `postgresql` binaries, a data directory and
// socket directory of its own, a free TCP port on 127.0.0.1, trust authentication, started and
// stopped by the test. As root (CI), the server runs as the `postgres` user, as it must.
import { spawnSync } from "node:child_process";
import fs from "node:fs";
import net from "node:net";
import os from "node:os";
import path from "node:path";

function pgBin() {
  const root = "/usr/lib/postgresql";
  const versions = fs.existsSync(root) ? fs.readdirSync(root).sort((a, b) => Number(b) - Number(a)) : [];
  for (const v of versions) if (fs.existsSync(path.join(root, v, "bin", "pg_ctl"))) return path.join(root, v, "bin");
  throw new Error("PostgreSQL's binaries are not installed (Debian package postgresql; make test installs it)");
}

function freePort() {
  return new Promise((resolve) => {
    const s = net.createServer();
    s.listen(0, "127.0.0.1", () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

function asServerUser(cmd, args) {
  const root = process.getuid && process.getuid() === 0;
  const res = root ? spawnSync("runuser", ["-u", "postgres", "--", cmd, ...args], { encoding: "utf8" })
                   : spawnSync(cmd, args, { encoding: "utf8" });
  if (res.status !== 0) throw new Error(`${path.basename(cmd)} ${args.join(" ")}: ${res.stderr}${res.stdout}`);
  return res.stdout;
}

export async function startPostgres() {
  const bin = pgBin();
  // Under /tmp: the server's user must reach it, which a checkout under /root may not allow.
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "hearth-pg-"));
  const data = path.join(dir, "pgdata");
  const sock = path.join(dir, "pgsock");
  fs.mkdirSync(data, { recursive: true });
  fs.mkdirSync(sock, { recursive: true });
  if (process.getuid && process.getuid() === 0) spawnSync("chown", ["-R", "postgres:postgres", dir]);
  asServerUser(path.join(bin, "initdb"), ["-D", data, "-U", "postgres", "--auth=trust", "-E", "UTF8", "--no-sync"]);
  const port = await freePort();
  const opts = `-p ${port} -k ${sock} -c listen_addresses=127.0.0.1 -c fsync=off`;
  const pg = {
    port,
    uri: `postgresql://postgres@127.0.0.1:${port}/postgres`,
    start() {
      asServerUser(path.join(bin, "pg_ctl"), ["-D", data, "-o", opts, "-l", path.join(data, "log"), "-w", "start"]);
    },
    stop() {
      asServerUser(path.join(bin, "pg_ctl"), ["-D", data, "-m", "immediate", "-w", "stop"]);
    },
    remove() {
      try {
        this.stop();
      } catch {}
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
  pg.start();
  return pg;
}
