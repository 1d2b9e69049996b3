/**
 * The main thread's evaluator, made at a session's first message (the evaluator, containment and
 * formatting load only then), for startManhole() and for an auto start alike.
 */
import type { FromEvaluator } from "../../protocol/relay.js";
import type { ResolvedOptions } from "../options.js";
import type { Evaluator } from "./evaluator.js";

export class MainEvaluator {
  private evaluator: Evaluator | undefined;
  private containment: { close(): void } | undefined;

  constructor(private readonly opts: ResolvedOptions) {}

  /** Makes the evaluator (and installs containment once): the serving mode calls it at the first message. */
  readonly make = (emit: (m: FromEvaluator) => void, interruptCells?: Int32Array): Evaluator => {
    const { installContainment } = require("./containment.js") as typeof import("./containment.js");
    const { Evaluator } = require("./evaluator.js") as typeof import("./evaluator.js");
    const { formatThrown } = require("./format.js") as typeof import("./format.js");
    const { opts } = this;
    this.containment ??= installContainment(formatThrown);
    this.evaluator = new Evaluator({
      timeout: opts.timeout,
      interruptCells,
      namespace: opts.namespace,
      shared: opts.shared,
      maxOutputBytes: opts.maxOutputBytes,
      syncTimeout: opts.threaded ? 0 : opts.timeout,
      asyncTimeout: opts.threaded ? 0 : opts.timeout,
      emit,
    });
    return this.evaluator;
  };

  /** The evaluation under way at exit (say, the one that called process.exit()), for the audit log. */
  inFlight(): ReturnType<Evaluator["inFlight"]> {
    return this.evaluator?.inFlight() ?? [];
  }

  get made(): boolean {
    return this.evaluator !== undefined;
  }

  /** Lets go of containment's hooks (the manhole did not open, or closed). */
  uncontain(): void {
    this.containment?.close();
    this.containment = undefined;
  }

  close(): void {
    this.uncontain();
    this.evaluator?.close();
    this.evaluator = undefined;
  }
}
