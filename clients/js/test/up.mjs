// `prsm-tasks up` for the tests: on free ports, in a temporary data dir, stopped at the end.
// The command is $PRSM_TASKS, else the repository's .venv, else `prsm-tasks` on the PATH.
import { spawn, execFile } from "node:child_process";
import { existsSync } from "node:fs";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";

const REPO = fileURLToPath(new URL("../../../", import.meta.url));
const VENV_COMMAND = join(REPO, ".venv", "bin", "prsm-tasks");
export const COMMAND =
  process.env.PRSM_TASKS ?? (existsSync(VENV_COMMAND) ? VENV_COMMAND : "prsm-tasks");

function userEnv() {
  const env = { ...process.env, PRSM_LOG_LEVEL: "warning" };
  for (const name of ["PRSM_SERVERS", "PRSM_NATS_USER", "PRSM_NATS_PASSWORD", "PRSM_JWT_SECRET"]) {
    delete env[name];
  }
  return env;
}

/** Start `up`; resolves to { url, token, dataDir, stop } once it prints its edge and token. */
export async function startUp({ withinMs = 120_000 } = {}) {
  const home = await mkdtemp(join(tmpdir(), "prsm-js-sdk-"));
  const dataDir = join(home, ".prsm");
  const args = ["up", "--data", dataDir, "--port", "0", "--nats-port", "0"];
  const child = spawn(COMMAND, args, { env: userEnv(), stdio: ["ignore", "pipe", "pipe"] });
  const killOnExit = () => child.kill("SIGKILL"); // never outlive the test process
  process.once("exit", killOnExit);

  let output = "";
  const ready = new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`up did not start:\n${output}`)), withinMs);
    const onData = (chunk) => {
      output += chunk;
      const url = output.match(/edge:\s+(http:\/\/\S+)/)?.[1];
      const token = output.match(/export TOKEN=(\S+)/)?.[1];
      if (url && token) {
        clearTimeout(timer);
        resolve({ url, token });
      }
    };
    child.stdout.setEncoding("utf8").on("data", onData);
    child.stderr.setEncoding("utf8").on("data", onData);
    child.once("exit", (code) => {
      clearTimeout(timer);
      reject(new Error(`up exited (${code}):\n${output}`));
    });
    child.once("error", reject);
  });

  async function stop() {
    process.removeListener("exit", killOnExit);
    if (child.exitCode === null && child.signalCode === null) {
      const exited = new Promise((resolve) => child.once("exit", resolve));
      child.kill("SIGTERM");
      const timer = setTimeout(() => child.kill("SIGKILL"), 30_000);
      await exited;
      clearTimeout(timer);
    }
    await rm(home, { recursive: true, force: true });
  }

  try {
    const { url, token } = await ready;
    return { url, token, dataDir, stop };
  } catch (error) {
    await stop();
    throw error;
  }
}

/** A token of another user and tenant, from `prsm-tasks token`, as an SDK user gets one. */
export async function mintToken(dataDir, user, tenant) {
  const args = ["token", "--data", dataDir, "--user", user, "--tenant", tenant];
  const { stdout } = await promisify(execFile)(COMMAND, args, { env: userEnv(), timeout: 60_000 });
  return stdout.trim();
}
