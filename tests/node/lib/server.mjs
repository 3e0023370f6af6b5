// Starts and stops the real parley server binary for the Node integration tests.
//
//   const srv = await startServer(t);          // registers cleanup with t.after
//   srv.port, srv.baseUrl, srv.wsUrl
//   await srv.stop()      -> exit code after SIGTERM (null if killed by a signal)
//   await srv.kill9()     -> SIGKILL, waits for the process to go away
//   await srv.restart()   -> starts again on the same port and the same data dir
//   await srv.cleanup()   -> kills the process if still running, removes the temp dir
//
// The binary comes from PARLEY_BIN (CTest sets it). Set PARLEY_KEEP_TEST_DATA=1 to keep the
// temp dirs (data and server.log) for inspection. With `dir` (new ParleyServer({dir})), the
// server uses that directory (created if missing) instead of a temp dir of its own, and
// cleanup() leaves it to the caller (the cluster tests keep it when a test fails).
//
// Sanitizer builds (tests/sanitize/asan.sh): stop() and cleanup() throw, failing the test,
// when the server wrote a sanitizer report to its log; with PARLEY_TEST_SANITIZER set,
// cleanup() stops a running server with SIGTERM instead of SIGKILL (so the leak check at exit
// runs) and throws unless it exits with status 0.
import { spawn } from 'node:child_process';
import { mkdtempSync, mkdirSync, openSync, closeSync, readFileSync, rmSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const LISTEN_RE = /^parley listening on ([0-9.]+):(\d+)\s*$/;
const DEFAULT_START_TIMEOUT_MS = 15_000;
const DEFAULT_STOP_TIMEOUT_MS = 10_000;
const SANITIZER_STOP_TIMEOUT_MS = 60_000;
// The first line of an AddressSanitizer, LeakSanitizer, ThreadSanitizer or UBSan report.
const SANITIZER_RE = /ERROR: AddressSanitizer|ERROR: LeakSanitizer|Sanitizer: |: runtime error: /;

// Every child still running when the test process exits is killed, so a crashed test file
// never leaves a server behind.
const live = new Set();
process.on('exit', () => {
  for (const child of live) {
    try {
      child.kill('SIGKILL');
    } catch {
      // already gone
    }
  }
});

export function parleyBin() {
  const bin = process.env.PARLEY_BIN;
  if (!bin) {
    throw new Error(
      'PARLEY_BIN is not set: run e.g. `PARLEY_BIN=/path/to/build/parley node --test --test-concurrency=1 tests/node/`',
    );
  }
  if (!existsSync(bin)) throw new Error(`PARLEY_BIN=${bin} does not exist`);
  return bin;
}

export class ParleyServer {
  constructor({ extraArgs = [], startTimeoutMs = DEFAULT_START_TIMEOUT_MS, dir } = {}) {
    this.bin = parleyBin();
    this.extraArgs = extraArgs;
    this.startTimeoutMs = startTimeoutMs;
    this.ownsDir = !dir;
    if (dir) mkdirSync(dir, { recursive: true });
    this.dir = dir ?? mkdtempSync(join(tmpdir(), 'parley-node-test-'));
    this.dataDir = join(this.dir, 'data');
    this.logPath = join(this.dir, 'server.log');
    this.port = 0;
    this.child = null;
    this.exited = null; // promise of {code, signal} for the current child
    this.lastExit = null;
    this.logChecked = 0; // bytes of server.log already checked for sanitizer reports
  }

  // Throws if the log has a sanitizer report past what was checked before.
  #checkLog() {
    let log;
    try {
      log = readFileSync(this.logPath);
    } catch {
      return;
    }
    const fresh = log.subarray(this.logChecked).toString('utf8').split('\n');
    this.logChecked = log.length;
    const first = fresh.findIndex((line) => SANITIZER_RE.test(line));
    if (first < 0) return;
    throw new Error(`parley wrote a sanitizer report to ${this.logPath}:\n${fresh.slice(first, first + 80).join('\n')}`);
  }

  get running() {
    return this.child !== null;
  }

  get baseUrl() {
    return `http://127.0.0.1:${this.port}`;
  }

  get wsUrl() {
    return `ws://127.0.0.1:${this.port}/v1/ws`;
  }

  logTail(lines = 40) {
    try {
      return readFileSync(this.logPath, 'utf8').split('\n').slice(-lines).join('\n');
    } catch {
      return '(no server log)';
    }
  }

  // Spawns the server (on this.port, 0 the first time) and resolves once it printed its
  // listening line.
  async start() {
    if (this.child) throw new Error('server already running');
    const args = [
      'serve',
      '--port', String(this.port),
      '--data-dir', this.dataDir,
      '--threads', '2',
      '--set', 'auth.password_cost=minimum',
      ...this.extraArgs,
    ];
    const logFd = openSync(this.logPath, 'a');
    let child;
    try {
      child = spawn(this.bin, args, { stdio: ['ignore', 'pipe', logFd] });
    } finally {
      closeSync(logFd); // the child has its own copy
    }
    this.child = child;
    live.add(child);
    this.exited = new Promise((resolve) => {
      child.once('exit', (code, signal) => {
        live.delete(child);
        if (this.child === child) this.child = null;
        this.lastExit = { code, signal };
        resolve({ code, signal });
      });
    });

    const port = await new Promise((resolve, reject) => {
      let buf = '';
      let done = false;
      const finish = (err, value) => {
        if (done) return;
        done = true;
        clearTimeout(timer);
        child.stdout.off('data', onData);
        child.off('exit', onExit);
        child.off('error', onError);
        // Keep draining stdout so the server never blocks on a full pipe.
        child.stdout.resume();
        if (err) reject(err);
        else resolve(value);
      };
      const onData = (chunk) => {
        buf += chunk.toString('utf8');
        let nl;
        while ((nl = buf.indexOf('\n')) >= 0) {
          const line = buf.slice(0, nl);
          buf = buf.slice(nl + 1);
          const m = LISTEN_RE.exec(line);
          if (m) return finish(null, Number(m[2]));
        }
      };
      const onExit = (code, signal) =>
        finish(new Error(`parley exited before listening (code ${code}, signal ${signal}); log:\n${this.logTail()}`));
      const onError = (err) => finish(new Error(`cannot spawn ${this.bin}: ${err.message}`));
      const timer = setTimeout(() => {
        finish(new Error(`parley did not print its listening line within ${this.startTimeoutMs} ms; log:\n${this.logTail()}`));
      }, this.startTimeoutMs);
      child.stdout.on('data', onData);
      child.once('exit', onExit);
      child.once('error', onError);
    }).catch(async (err) => {
      await this.kill9();
      throw err;
    });
    this.port = port;
    return this;
  }

  // Waits for the current child to exit; SIGKILLs it and throws if it takes too long.
  async #awaitExit(timeoutMs, what) {
    const child = this.child;
    if (!child) return this.lastExit;
    let timer;
    const timeout = new Promise((resolve) => {
      timer = setTimeout(() => resolve('timeout'), timeoutMs);
    });
    const r = await Promise.race([this.exited, timeout]);
    clearTimeout(timer);
    if (r === 'timeout') {
      child.kill('SIGKILL');
      await this.exited;
      throw new Error(`parley did not exit within ${timeoutMs} ms after ${what}; log:\n${this.logTail()}`);
    }
    return r;
  }

  // Graceful stop: SIGTERM, wait for the exit, return the exit code (null if a signal
  // ended it; see lastExit.signal).
  async stop(timeoutMs = DEFAULT_STOP_TIMEOUT_MS) {
    if (!this.child) return this.lastExit ? this.lastExit.code : null;
    this.child.kill('SIGTERM');
    const { code } = await this.#awaitExit(timeoutMs, 'SIGTERM');
    this.#checkLog();
    return code;
  }

  // Crash: SIGKILL and wait until the process is gone.
  async kill9() {
    if (!this.child) return;
    this.child.kill('SIGKILL');
    await this.#awaitExit(DEFAULT_STOP_TIMEOUT_MS, 'SIGKILL');
  }

  // Starts again on the same port and data dir (stops first with SIGKILL if still running).
  async restart() {
    if (this.child) await this.kill9();
    return this.start();
  }

  // Runs another parley subcommand on this server's data dir (e.g. `prune`, which needs the
  // server stopped); resolves with {code, stdout, stderr}.
  async runCli(args, timeoutMs = DEFAULT_STOP_TIMEOUT_MS) {
    const child = spawn(this.bin, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    live.add(child);
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => {
      stdout += d;
    });
    child.stderr.on('data', (d) => {
      stderr += d;
    });
    let timer;
    try {
      return await new Promise((resolve, reject) => {
        timer = setTimeout(() => {
          child.kill('SIGKILL');
          reject(new Error(`parley ${args.join(' ')} did not finish within ${timeoutMs} ms`));
        }, timeoutMs);
        child.once('error', reject);
        child.once('close', (code) => resolve({ code, stdout, stderr }));
      });
    } finally {
      clearTimeout(timer);
      live.delete(child);
    }
  }

  async cleanup() {
    try {
      if (process.env.PARLEY_TEST_SANITIZER && this.child) {
        const code = await this.stop(SANITIZER_STOP_TIMEOUT_MS);
        if (code !== 0) throw new Error(`parley exited with ${code} (signal ${this.lastExit.signal}) on SIGTERM; log:\n${this.logTail()}`);
      }
      await this.kill9();
      this.#checkLog();
    } finally {
      if (this.ownsDir && !process.env.PARLEY_KEEP_TEST_DATA) rmSync(this.dir, { recursive: true, force: true });
    }
  }
}

// Starts a server for one test and registers its cleanup with the test context
// (node:test's t.after), so the process is gone whatever the test does.
export async function startServer(t, opts = {}) {
  const srv = new ParleyServer(opts);
  if (t) t.after(() => srv.cleanup());
  try {
    await srv.start();
  } catch (err) {
    if (!t) await srv.cleanup();
    throw err;
  }
  return srv;
}
