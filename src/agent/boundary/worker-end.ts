/**
 * Threaded mode's worker: owns the socket and the sessions, relays evaluations to the main
 * thread, and watches the main thread through the inspector. Its event loop stays free while
 * the main thread's is blocked, so it can always answer.
 */
import { parentPort, workerData } from "node:worker_threads";
import type { AuditMessage, FromEvaluator, WorkerClose, WorkerStatus } from "../../protocol/relay.js";
import { type Auditor, type AuditTarget, FileAuditor, RelayAuditor, recordUnfinished } from "../audit.js";
import { EvalChannel } from "../socket-side/eval-channel.js";
import { Listener, type ListenerConfig } from "../socket-side/listener.js";
import { ThreadSupervisor } from "../socket-side/watchdog.js";

export interface WorkerData {
  listener: ListenerConfig;
  timeout: number;
  heartbeat: SharedArrayBuffer;
  /** The Int32 cells of supervisor.ts CELL: the interrupt flag that manhole code checks, and what the main thread runs. */
  interrupt: SharedArrayBuffer;
  observeOnly: boolean;
  /** A file this worker appends to, or "relay" each event to the main thread's audit function. */
  audit: AuditTarget | undefined;
}

const port = parentPort;
if (!port) throw new Error("manhole: worker.js runs only as a worker thread");
const data = workerData as WorkerData;
const status = (s: WorkerStatus) => port.postMessage(s);

const audit: Auditor | undefined =
  data.audit?.kind === "file"
    ? new FileAuditor(data.audit.path)
    : data.audit?.kind === "relay"
      ? new RelayAuditor((event) => port.postMessage({ type: "audit", event } satisfies AuditMessage))
      : undefined;
const channel = new EvalChannel((m) => port.postMessage(m), { observeOnly: data.observeOnly, audit });
const supervisor = new ThreadSupervisor(channel, data.heartbeat, new Int32Array(data.interrupt), data.timeout);
const listener = new Listener(data.listener, channel, supervisor, () => status({ type: "oneshot-done" }));

port.on("message", (m: FromEvaluator | WorkerClose) => {
  if (m.type === "close") {
    recordUnfinished(audit);
    void listener
      .close()
      .then(() => audit?.close())
      .then(() => {
        supervisor.close();
        status({ type: "closed" });
      });
    return;
  }
  channel.receive(m);
});

listener.listen(true).then(
  (ino) => status({ type: "ready", ino, ...(listener.tcpPort === undefined ? {} : { tcpPort: listener.tcpPort }) }),
  (err: Error) => status({ type: "failed", name: err.name, message: err.message }),
);
