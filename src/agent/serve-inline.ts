/**
 * `threaded: false`: the listener, the sessions and the evaluator all on the main thread, the
 * evaluator called directly (no thread boundary, no supervision while the loop is blocked).
 */
import type { FromEvaluator } from "../protocol/relay.js";
import { type Auditor, FileAuditor, FunctionAuditor, recordUnfinished } from "./audit.js";
import type { Evaluator } from "./main-thread/evaluator.js";
import type { Access, Serving } from "./serving.js";
import { EvalChannel } from "./socket-side/eval-channel.js";
import { Listener, type ListenerConfig } from "./socket-side/listener.js";
import { unlinkIfOurs } from "./socket-side/socket-bind.js";
import { InlineSupervisor } from "./socket-side/supervisor.js";

export async function serveInline(
  config: ListenerConfig,
  timeout: number,
  evaluator: (emit: (m: FromEvaluator) => void) => Evaluator,
  access: Access,
): Promise<Serving> {
  let ev: Evaluator | undefined;
  const { audit } = access;
  const auditor: Auditor | undefined =
    audit === undefined ? undefined : typeof audit === "string" ? new FileAuditor(audit) : new FunctionAuditor(audit);
  const channel = new EvalChannel((m) => ev?.handle(m), { observeOnly: access.observeOnly, audit: auditor });
  ev = evaluator((m) => channel.receive(m));
  const supervisor = new InlineSupervisor(channel, timeout);
  const listener = new Listener(
    config,
    channel,
    () => supervisor,
    () => access.oneshotDone?.(),
  );
  let ino: number;
  try {
    ino = await listener.listen(false);
  } catch (err) {
    await auditor?.close();
    throw err;
  }
  return {
    close: () => {
      recordUnfinished(auditor);
      return listener.close().then(() => auditor?.close());
    },
    removeSocket: () => unlinkIfOurs(config.path, ino),
    tcpPort: listener.tcpPort,
  };
}
