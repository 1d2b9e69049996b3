/**
 * Threaded mode's worker: owns the socket and the sessions, relays evaluations to the main
 * thread, and watches the main thread through the inspector. Its event loop stays free while
 * the main thread's is blocked, so it can always answer.
 */
import fs from "node:fs";
import { parentPort, workerData } from "node:worker_threads";
import type { AuditMessage, FromEvaluator, WorkerClose, WorkerStatus } from "../../protocol/relay.js";
import { type Auditor, FileAuditor, RelayAuditor, recordUnfinished } from "../audit.js";
import { EvalChannel } from "../socket-side/eval-channel.js";
import { Listener } from "../socket-side/listener.js";
import type { ThreadSupervisor } from "../socket-side/watchdog.js";
import type { WorkerData, WorkerPlan } from "./worker-data.js";

/**
 * A defect of the manhole's own code in this thread must not take every session (and the
 * manhole) down with it: it is told on the app's stderr, once per kind of error, and the
 * listener and the other sessions go on. The app's thread is not involved either way.
 */
const told = new Set<string>();
const internalError = (err: unknown) => {
  let text: string;
  try {
    text = err instanceof Error ? (err.stack ?? `${err.name}: ${err.message}`) : String(err);
  } catch {
    text = "(an unprintable value)";
  }
  const key = text.split("\n").slice(0, 2).join("\n");
  if (told.has(key)) return;
  told.add(key);
  try {
    fs.writeSync(2, `manhole: internal error in the manhole's worker thread (the app goes on; please report it):\n${text}\n`);
  } catch {
    // no stderr
  }
};
process.on("uncaughtException", internalError);
process.on("unhandledRejection", internalError);

/** After this long listening, the sessions' code is loaded ahead of a first connection. */
const WARM_AFTER_MS = 1000;

const port =
  parentPort ??
  (() => {
    throw new Error("manhole: worker.js runs only as a worker thread");
  })();
const given = workerData as WorkerData;
const status = (s: WorkerStatus) => port.postMessage(s);

/** Listens with `data` and serves until the main thread says close. */
function serve(
  data: WorkerPlan & WorkerData,
  planned?: Extract<WorkerStatus, { type: "ready" }>["planned"],
  failed = (err: Error) => status({ type: "failed", name: err.name, message: err.message }),
): void {
  const audit: Auditor | undefined =
    data.audit?.kind === "file"
      ? new FileAuditor(data.audit.path)
      : data.audit?.kind === "relay"
        ? new RelayAuditor((event) => port.postMessage({ type: "audit", event } satisfies AuditMessage))
        : undefined;
  const channel = new EvalChannel((m) => port.postMessage(m), { observeOnly: data.observeOnly, audit });
  /** The watchdog (inspector, stacks, worker threads): made with the first session, or by the warm-up. */
  let supervisor: ThreadSupervisor | undefined;
  const supervise = (): ThreadSupervisor => {
    if (!supervisor) {
      const { ThreadSupervisor } = require("../socket-side/watchdog.js") as typeof import("../socket-side/watchdog.js");
      supervisor = new ThreadSupervisor(channel, data.heartbeat, new Int32Array(data.interrupt), data.timeout);
    }
    return supervisor;
  };
  const listener = new Listener(data.listener, channel, supervise, () => status({ type: "oneshot-done" }));

  port.on("message", (m: FromEvaluator | WorkerClose) => {
    if (m.type === "close") {
      recordUnfinished(audit);
      void listener
        .close()
        .then(() => audit?.close())
        .then(() => {
          supervisor?.close();
          status({ type: "closed" });
        });
      return;
    }
    channel.receive(m);
  });

  listener.listen(true).then((ino) => {
    status({
      type: "ready",
      ino,
      ...(listener.tcpPort === undefined ? {} : { tcpPort: listener.tcpPort }),
      ...(planned ? { planned } : {}),
    });
    setTimeout(() => listener.warm(), WARM_AFTER_MS).unref();
  }, failed);
}

if ("plan" in given) serve({ ...given, ...given.plan });
else {
  // An auto start: what cannot start is said here, at once (the app may exit before the main
  // thread reads a message), and `told` says so.
  const { planFromEnv, say } = require("./env-plan.js") as typeof import("./env-plan.js");
  const toldCell = new Int32Array(given.told);
  const failed = (err: unknown) => {
    const e = err instanceof Error ? err : new Error(String(err));
    say(`not started: ${e.message}`);
    Atomics.store(toldCell, 0, 2);
    status({ type: "failed", name: e.name, message: e.message });
  };
  let made: ReturnType<typeof planFromEnv> | undefined;
  try {
    made = planFromEnv(given.fromEnv, toldCell);
  } catch (err) {
    failed(err);
  }
  if (made) serve({ ...given, ...made.plan }, made.planned, failed);
}
