/** What the main thread hands the worker it starts (worker-end.ts): the shared memory, and what to listen with. */
import type { AuditTarget } from "../audit-option.js";
import type { ListenerConfig } from "../socket-side/listener.js";
import type { ProcessFacts } from "../start-plan.js";

/** What the worker serves with: made by startManhole() on the main thread, or here from the environment. */
export interface WorkerPlan {
  listener: ListenerConfig;
  timeout: number;
  observeOnly: boolean;
  /** A file this worker appends to, or "relay" each event to the main thread's audit function. */
  audit: AuditTarget | undefined;
}

export type WorkerData = {
  heartbeat: SharedArrayBuffer;
  /** The Int32 cells of supervisor.ts CELL: the interrupt flag that manhole code checks, and what the main thread runs. */
  interrupt: SharedArrayBuffer;
} & (
  | { plan: WorkerPlan }
  /**
   * An auto start: the worker works the plan out from the environment (env-plan.ts). `told`
   * is 1 once a thread has taken on writing the problems with variables to stderr (the first
   * to turn it from 0), 2 once the worker has written why it could not start.
   */
  | { fromEnv: ProcessFacts; told: SharedArrayBuffer }
);
