/**
 * The structured protocol: JSON lines on the same socket as human mode, for the `manhole`
 * CLI and for scripts. A client switches its session by sending a `hello` line as its first
 * input; everything after is one JSON object per line in each direction.
 *
 * Requests carry a client-chosen `id` (a positive integer); every reply to a request carries
 * the same `id`. Output printed between evaluations arrives with `id: null`.
 */
import type { ErrorInfo, FrameInfo } from "./outcome.js";

export type { ErrorInfo } from "./outcome.js";

/** Client → agent. */
export type Request =
  | { op: "hello"; id: number; protocol: number[]; client?: string; token?: string }
  | {
      op: "eval";
      id: number;
      code: string;
      /** This input only: evaluate in the worker thread of this thread id, or "main" (default: where the session is, see `.worker`). */
      worker?: number | "main";
    }
  | { op: "complete"; id: number; text: string }
  | { op: "interrupt"; id: number; target?: number }
  | { op: "command"; id: number; name: string; args?: string | Record<string, unknown> }
  | { op: "describe"; id: number }
  | { op: "close"; id: number };

export interface LoopInfo {
  blocked: boolean;
  sinceMs: number;
}

/** Agent → client. */
export type Reply =
  | {
      op: "hello";
      id: number;
      protocol: number;
      agent: string;
      version: string;
      pid: number;
      node: string;
      app: string;
      uptimeMs: number;
      threaded: boolean;
      /** Absent when the agent shares the main thread and so cannot tell. */
      loop?: LoopInfo;
    }
  | { op: "out"; id: number | null; text: string }
  | {
      /** The eval waits for a blocked event loop: sent at once, before its own reply. */
      op: "blocked";
      id: number;
      blockedMs: number;
      state: "js" | "native" | "waiting";
      frame?: FrameInfo;
      text: string;
    }
  | { op: "value"; id: number; text: string; json?: unknown }
  | { op: "error"; id: number; text: string; error?: ErrorInfo }
  | { op: "completions"; id: number; items: string[]; prefix: string }
  | {
      /**
       * Something a running command observed (a watched call, a channel message), before its
       * `result`: `event` names the kind (e.g. "watch.call"), `text` is ready to print, `data` its JSON.
       */
      op: "event";
      id: number;
      event: string;
      text: string;
      data: unknown;
    }
  | { op: "result"; id: number; text: string; json?: unknown; session?: SessionEffect; confirm?: Confirmation }
  | ArtifactFrame
  | { op: "describe"; id: number; ops: OperationInfo[]; commands: CommandInfo[] }
  /** Unrequested (`id: null`): the session changed by itself, e.g. the worker it was in exited. */
  | { op: "session"; id: null; session: SessionEffect; text: string }
  | { op: "bye"; id: number | null; reason?: string };

/**
 * An artifact (a profile, a heap snapshot) an operation streams to its client before its
 * result: one "start", "chunk"s in order (base64 of the file's bytes at `offset`), one "end"
 * with the size and sha256 of all of it; or "abort" if it was given up on (the client keeps
 * nothing). The agent sends the next chunk only once the socket has taken the previous one.
 */
export type ArtifactFrame =
  | {
      op: "artifact";
      id: number;
      phase: "start";
      /** The file name the agent suggests (no directory): `profile-4242-20261201T144700Z.cpuprofile`. */
      name: string;
      mediaType: string;
      /** Total bytes, when known before the first chunk (null otherwise). */
      size: number | null;
    }
  | { op: "artifact"; id: number; phase: "chunk"; offset: number; data: string }
  | { op: "artifact"; id: number; phase: "end"; size: number; sha256: string }
  | { op: "artifact"; id: number; phase: "abort"; reason: string };

/**
 * A result that did nothing yet: the operation asks to be confirmed (a heap snapshot that
 * freezes the app). A client asks its user `question` and repeats the request with `arg`: true.
 */
export interface Confirmation {
  question: string;
  arg: string;
}

export interface OperationInfo {
  name: string;
  help: string;
}

/** An operation (dot-command) as `describe` lists it: its whole declaration. */
export interface CommandInfo extends OperationInfo {
  args: {
    name: string;
    type: "string" | "number" | "boolean" | "duration";
    help: string;
    /** A duration given as a bare number is in this unit ("ms" when absent). */
    unit?: "ms" | "s";
    /** A string argument that takes only these words (besides its default). */
    choices?: string[];
    default?: string | number | boolean;
  }[];
  /** "socket": answered by the socket side; "main": by the app's main thread; "main-or-socket": the socket side while the loop is blocked. */
  runsOn: "socket" | "main" | "main-or-socket";
  /** Works in observe-only mode. */
  observeSafe: boolean;
  /** One heavy operation at a time per process. */
  heavy: boolean;
  /** A client recognises it even in the middle of a multi-line input. */
  midInput: boolean;
  /** About the session itself (help, exit, break): the CLI has no subcommand for it. */
  sessionOnly: boolean;
  /** What file it produces (streamed as artifact frames), if any: e.g. "a .cpuprofile". */
  artifact?: string;
}

/** What an operation did to the session, for a client that keeps its own input and connection. */
export interface SessionEffect {
  /** Drop the half-typed multi-line input (`.break`). */
  clearInput?: true;
  /** The session ends after this reply (`.exit`). */
  leave?: true;
  /** The session now evaluates in this worker thread (its thread id), or on the main thread (null): `.worker`. */
  worker?: number | null;
}

/** Every request op, described (the answer to `describe`). */
export const OPERATIONS: OperationInfo[] = [
  { name: "hello", help: "Negotiate the protocol: {protocol: [versions]} → {protocol, pid, node, app, loop...}" },
  {
    name: "eval",
    help: "Evaluate {code} (optional {worker}: a thread id or 'main', for this input alone): streams {op:'out'} then ends with {op:'value'} or {op:'error'}",
  },
  { name: "complete", help: "Completions for {text} (the line up to the cursor) → {items, prefix}" },
  { name: "interrupt", help: "Interrupt the running evaluation ({target} = its id, default the running one)" },
  {
    name: "command",
    help: "Run a dot-command {name, args: \"text\" | {name: value}} (e.g. stack): streams {op:'out'} and {op:'event'}, then {op:'result', text, json}",
  },
  { name: "describe", help: "List the operations and dot-commands" },
  { name: "close", help: "End the session" },
];

/** Errors a request can get, as `{op:'error', id, error: {name}}`. */
export const PROTOCOL_ERRORS = {
  badRequest: "BadRequest",
  unknownOp: "UnknownOperation",
  version: "ProtocolVersionMismatch",
  busy: "Busy",
  /** `observeOnly: true`: evaluation and completion are disabled. */
  observeOnly: "ObserveOnly",
} as const;
