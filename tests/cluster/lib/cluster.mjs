// A throwaway Parley cluster for the tests: one PostgreSQL 15 cluster (tests/pg/pg_cluster.sh
// in a mktemp dir under /tmp, so the postgres user can reach it), one nats-server on an
// ephemeral loopback port, and K parley nodes (tests/node/lib/server.mjs) on both, each with
// its own port, data dir and node id, sharing one uploads dir. No proxy: tests connect to
// specific nodes.
//
//   await withCluster({ nodes: 2 }, async (cluster) => { ... cluster.nodes[0].wsUrl ... });
//
// withCluster stops and removes everything when the body ends; when it throws, the directory
// (every server log: node1/server.log..., nats.log, pg/server.log) is kept and its path is
// added to the error. Helpers that disturb the cluster: kill9(node), restart(node),
// stopNats() / startNats() (same port), restartPostgres({ downMs }) (fast shutdown, downMs
// without a server, start on the same port and data).
//
// The binaries: PARLEY_BIN (as for tests/node), NATS_SERVER (default: nats-server on PATH),
// PostgreSQL 15's from pg_cluster.sh (PG_BIN).
//
// Nothing outlives the test process: the nodes die with it (server.mjs), an exit handler
// kills nats-server and stops PostgreSQL, and a detached watchdog does the same if the
// process is killed outright (a CTest timeout), reading the pids from <dir>/pids.
import { spawn, spawnSync } from 'node:child_process';
import { chmodSync, mkdtempSync, openSync, closeSync, rmSync, writeFileSync } from 'node:fs';
import { createConnection } from 'node:net';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { setTimeout as delay } from 'node:timers/promises';
import { ParleyServer } from '../../node/lib/server.mjs';

const here = dirname(fileURLToPath(import.meta.url));
const PG_CLUSTER = join(here, '..', '..', 'pg', 'pg_cluster.sh');
const NATS_BIN = process.env.NATS_SERVER ?? 'nats-server';
const START_TIMEOUT_MS = 15_000;

// A free loopback port (the kernel's pick; the socket closes before the caller binds it).
export function freePort() {
  const r = spawnSync('python3', ['-c', 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'], {
    encoding: 'utf8',
  });
  if (r.status !== 0) throw new Error(`free port: ${r.stderr}`);
  return Number(r.stdout.trim());
}

function pgCluster(...args) {
  const env = { ...process.env, PG_INITDB_NO_SYNC: '1' }; // thrown away with the test
  const r = spawnSync('bash', [PG_CLUSTER, ...args], { encoding: 'utf8', timeout: 90_000, env });
  if (r.status !== 0) throw new Error(`pg_cluster.sh ${args.join(' ')} failed (${r.status}): ${r.stderr}`);
  return r.stdout.trim();
}

// Resolves once something accepts TCP connections on 127.0.0.1:port.
async function awaitListening(port, isAlive, what) {
  const deadline = Date.now() + START_TIMEOUT_MS;
  while (Date.now() < deadline) {
    const ok = await new Promise((resolve) => {
      const s = createConnection({ host: '127.0.0.1', port }, () => {
        s.destroy();
        resolve(true);
      });
      s.once('error', () => resolve(false));
    });
    if (ok) return;
    if (!isAlive()) throw new Error(`${what} exited while starting`);
    await delay(50);
  }
  throw new Error(`${what} did not listen on ${port} within ${START_TIMEOUT_MS} ms`);
}

export class Cluster {
  constructor({ nodes = 2, extraArgs = [] } = {}) {
    this.dir = mkdtempSync('/tmp/parley-cluster-test.');
    chmodSync(this.dir, 0o711); // the postgres user (pg_cluster.sh as root) passes through to pg/
    this.pgDir = join(this.dir, 'pg');
    this.pgPort = freePort();
    this.pgUrl = null;
    this.natsPort = freePort();
    this.natsUrl = `nats://127.0.0.1:${this.natsPort}`;
    this.natsLog = join(this.dir, 'nats.log');
    this.nats = null; // the nats-server child while it runs
    this.natsExited = null;
    this.nodeCount = nodes;
    this.extraArgs = extraArgs;
    this.nodes = [];
    this.cleaned = false;
    this.onExit = () => this.#emergencyStop();
    process.on('exit', this.onExit);
    this.watchdog = spawn(
      'bash',
      [
        '-c',
        'while kill -0 "$1" 2>/dev/null; do sleep 1; done; ' +
          '[ -f "$2/pids" ] && kill -9 $(cat "$2/pids") 2>/dev/null; bash "$3" halt "$2/pg" >/dev/null 2>&1',
        'cluster-watchdog',
        String(process.pid),
        this.dir,
        PG_CLUSTER,
      ],
      { detached: true, stdio: 'ignore' },
    );
    this.watchdog.unref();
  }

  // PostgreSQL, NATS, then the nodes one by one (the first creates the schema).
  async start() {
    this.pgUrl = pgCluster('start', this.pgDir, String(this.pgPort));
    await this.startNats();
    for (let k = 1; k <= this.nodeCount; k++) {
      const name = `node${k}`;
      const dir = join(this.dir, name);
      const node = new ParleyServer({
        dir,
        startTimeoutMs: START_TIMEOUT_MS,
        extraArgs: [
          '--set', 'store.backend=postgres',
          '--set', `store.postgres_url=${this.pgUrl}`,
          '--set', `cluster.nats_url=${this.natsUrl}`,
          '--set', `cluster.node_id=${name}`,
          '--set', `store.uploads_dir=${join(this.dir, 'uploads')}`,
          ...this.extraArgs,
        ],
      });
      node.name = name;
      this.nodes.push(node);
      await node.start();
      this.#writePids();
    }
    return this;
  }

  // The pids the watchdog kills if this process dies without cleaning up.
  #writePids() {
    const pids = [this.nats?.pid, ...this.nodes.map((n) => n.child?.pid)].filter(Boolean);
    writeFileSync(join(this.dir, 'pids'), pids.join(' ') + '\n');
  }

  async startNats() {
    if (this.nats) throw new Error('nats-server already running');
    const fd = openSync(this.natsLog, 'a');
    let child;
    try {
      child = spawn(NATS_BIN, ['-a', '127.0.0.1', '-p', String(this.natsPort)], { stdio: ['ignore', fd, fd] });
    } finally {
      closeSync(fd);
    }
    this.nats = child;
    this.natsExited = new Promise((resolve) => child.once('exit', resolve));
    child.once('exit', () => {
      if (this.nats === child) this.nats = null;
    });
    child.once('error', (err) => {
      // Not started at all (no such binary): no 'exit' follows.
      if (this.nats === child) this.nats = null;
      this.natsError = err;
    });
    await awaitListening(this.natsPort, () => this.nats === child, `${NATS_BIN} (log ${this.natsLog})`).catch((err) => {
      if (this.natsError) err.message += `: ${this.natsError.message}`;
      throw err;
    });
    this.#writePids();
  }

  async stopNats() {
    if (!this.nats) return;
    const exited = this.natsExited;
    this.nats.kill('SIGTERM');
    await exited;
  }

  async kill9(node) {
    await node.kill9();
    this.#writePids();
  }

  async restart(node) {
    await node.restart();
    this.#writePids();
  }

  // Stops PostgreSQL (fast shutdown: sessions are cut), waits downMs, starts it again on the
  // same port and data.
  async restartPostgres({ downMs = 0 } = {}) {
    if (downMs <= 0) {
      pgCluster('restart', this.pgDir);
      return;
    }
    pgCluster('halt', this.pgDir);
    await delay(downMs);
    pgCluster('start', this.pgDir, String(this.pgPort));
  }

  // Every log, for failure messages.
  logs() {
    return [...this.nodes.map((n) => n.logPath), this.natsLog, join(this.pgDir, 'server.log')];
  }

  async cleanup({ keep = false } = {}) {
    if (this.cleaned) return;
    this.cleaned = true;
    try {
      for (const node of this.nodes) await node.cleanup();
      await this.stopNats();
      pgCluster('halt', this.pgDir);
    } finally {
      process.off('exit', this.onExit);
      try {
        process.kill(this.watchdog.pid, 'SIGKILL');
      } catch {
        // already gone
      }
      if (!keep) rmSync(this.dir, { recursive: true, force: true });
    }
  }

  // The exit handler's synchronous version of cleanup() (the nodes are server.mjs's).
  #emergencyStop() {
    if (this.cleaned) return;
    this.nats?.kill('SIGKILL');
    spawnSync('bash', [PG_CLUSTER, 'halt', this.pgDir], { stdio: 'ignore', timeout: 60_000 });
  }
}

// Starts a cluster, runs fn(cluster), removes it; keeps it (and names it in the error) when
// start or fn throws, or always with PARLEY_KEEP_TEST_DATA set.
export async function withCluster(opts, fn) {
  const cluster = new Cluster(opts);
  let ok = false;
  try {
    await cluster.start();
    await fn(cluster);
    ok = true;
  } catch (err) {
    err.message += `\n(cluster data and logs kept in ${cluster.dir}: ${cluster.logs().join(', ')})`;
    throw err;
  } finally {
    await cluster.cleanup({ keep: !ok || Boolean(process.env.PARLEY_KEEP_TEST_DATA) });
  }
}
