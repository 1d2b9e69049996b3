/**
 * The main thread's end of the thread boundary (threaded: true): starts the worker that owns
 * the socket (worker-end.ts), hands it the shared memory, and relays messages between it and
 * the evaluator. The worker's end is worker-end.ts beside this file.
 */
import path from "node:path";
import { Worker } from "node:worker_threads";
import type { AuditMessage, FromEvaluator, ToEvaluator, WorkerClose, WorkerStatus } from "../../protocol/relay.js";
import { auditTarget } from "../audit-option.js";
import { SocketInUseError } from "../errors.js";
import type { Evaluator } from "../main-thread/evaluator.js";
import type { Access, Serving } from "../serving.js";
import type { ListenerConfig } from "../socket-side/listener.js";
import type { ProcessFacts } from "../start-plan.js";
import { INTERRUPT_CELLS, startHeartbeat } from "./shared-memory.js";
import type { WorkerData } from "./worker-data.js";

/** Removes the socket if it is still the one the worker bound (loaded when first needed: at close or exit). */
const unlinkIfOurs = (socketPath: string, ino: number) =>
  (require("../socket-side/socket-bind.js") as typeof import("../socket-side/socket-bind.js")).unlinkIfOurs(socketPath, ino);

/**
 * What the worker listens with: startManhole()'s config and timeout, or, for an auto start,
 * the process facts it works the rest out from (the environment's options: env-plan.ts), and
 * `told`, set by the worker once it has written each problem with a variable.
 */
export type WorkerStart = { config: ListenerConfig; timeout: number } | { fromEnv: ProcessFacts; told: SharedArrayBuffer };

export type ThreadedServing = Serving & { planned?: Extract<WorkerStatus, { type: "ready" }>["planned"] };

export async function serveThreaded(
  start: WorkerStart,
  evaluator: (emit: (m: FromEvaluator) => void, interruptCells?: Int32Array) => Evaluator,
  access: Access,
): Promise<ThreadedServing> {
  const heartbeat = startHeartbeat();
  const interrupt = new SharedArrayBuffer(4 * INTERRUPT_CELLS);
  const data: WorkerData =
    "config" in start
      ? {
          heartbeat: heartbeat.buffer,
          interrupt,
          plan: { listener: start.config, timeout: start.timeout, observeOnly: access.observeOnly, audit: auditTarget(access.audit) },
        }
      : { heartbeat: heartbeat.buffer, interrupt, fromEnv: start.fromEnv, told: start.told };
  const socketPath = () => ("config" in start ? start.config.path : (planned?.socketPath ?? ""));
  let planned: ThreadedServing["planned"];
  // A file is written by the worker itself; a function is called here with the events it relays.
  const relayed =
    typeof access.audit === "function"
      ? new (require("../audit.js") as typeof import("../audit.js")).FunctionAuditor(access.audit)
      : undefined;
  const worker = new Worker(path.join(__dirname, "worker-end.js"), {
    workerData: data,
    execArgv: [], // never inherit --import/--require of the app (they could start a manhole in the worker)
    stdout: false,
    stderr: false,
  });
  // Made at the first message a session sends: until someone connects, the evaluator, the
  // operations and the parser are never loaded into the app (its start-up stays as it was).
  let ev: Evaluator | undefined;
  let ino = -1;
  let tcpPort: number | undefined;
  let onStatus: ((s: WorkerStatus) => void) | undefined;
  worker.on("message", (m: ToEvaluator | WorkerStatus | AuditMessage) => {
    if (m.type === "oneshot-done") access.oneshotDone?.();
    else if (m.type === "ready" || m.type === "failed" || m.type === "closed") onStatus?.(m);
    else if (m.type === "audit") relayed?.record(m.event);
    else {
      ev ??= evaluator((out) => worker.postMessage(out), new Int32Array(interrupt));
      ev.handle(m);
    }
  });
  const ready = new Promise<void>((resolve, reject) => {
    onStatus = (s) => {
      if (s.type === "ready") {
        ino = s.ino;
        tcpPort = s.tcpPort;
        planned = s.planned;
        resolve();
      } else if (s.type === "failed") {
        const err = s.name === "SocketInUseError" ? new SocketInUseError(s.message) : new Error(s.message);
        reject(err);
      }
    };
    worker.once("error", reject);
    worker.once("exit", (code) => reject(new Error(`manhole: worker exited (${code}) before listening`)));
  });
  try {
    await ready;
  } catch (err) {
    heartbeat.stop();
    await worker.terminate();
    throw err;
  }
  worker.unref(); // only now: unref'd earlier, the app could exit before listening (and on("message") re-refs)
  worker.on("error", () => {}); // a worker crash must not become the app's uncaught error
  return {
    close: () =>
      new Promise<void>((resolve) => {
        worker.ref(); // an app awaiting close() must see it finish, not exit halfway
        onStatus = (s) => {
          if (s.type === "closed") void worker.terminate().then(() => resolve());
        };
        worker.once("exit", () => resolve());
        worker.postMessage({ type: "close" } satisfies WorkerClose);
      }).finally(() => {
        heartbeat.stop();
        unlinkIfOurs(socketPath(), ino);
      }),
    removeSocket: () => unlinkIfOurs(socketPath(), ino),
    tcpPort,
    ...(planned ? { planned } : {}),
  };
}
