/**
 * Fleets: several remote targets at once (`--ssh h1,h2,h3`, `--kube -l app=shop`, `--docker a,b`,
 * or several URLs), listed with the far side's `manhole ls --json`, with at most `--parallel`
 * transport processes at a time and a deadline per target. Used by ls and exec --all, and by any
 * subcommand that fans out: `forEachProcess` gives each live remote process's URL.
 */
import type { ParsedArgs } from "./args.js";
import { UsageError } from "./args.js";
import { CliError, EXIT } from "./errors.js";
import {
  locationTag,
  locationUrl,
  parseDockerContainer,
  parseKubePod,
  parseRemote,
  parseSshHost,
  type RemoteLocation,
  remoteUrl,
  runRemote,
  transportTemplate,
} from "./remote.js";

/** The valued options of a fleet (besides each command's own). */
export const FLEET_VALUED = ["ssh", "kube", "docker", "selector", "namespace", "parallel", "target-timeout"] as const;

export const FLEET_OPTIONS_HELP = `  --ssh <h1,h2,...>        every manhole on those hosts ([user@]host[:port]), through ssh
  --kube <pod1,pod2,...>   ... in those pods ([namespace/]pod[/container]), through kubectl exec
  --kube -l <selector>     ... in every running pod matching the label selector
                           (kubectl get pods -l <selector>; -n <namespace> to pick one)
  --docker <c1,c2,...>     ... in those containers, through docker exec
  --parallel <n>           at most n transport processes at a time (default 8)
  --target-timeout <ms>    the most one target may take (default 20000; waiting for a
                           --parallel slot does not count); exit 7 in its row`;

/** `-l sel` → `--selector=sel`, `-n ns` → `--namespace=ns`, a bare `--kube` (with -l) → `--kube=`. */
export function normalizeFleetArgv(argv: readonly string[]): string[] {
  const out: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    if (arg === "--") {
      out.push(...argv.slice(i));
      break;
    }
    if (arg === "-l" || arg === "-n") {
      const value = argv[i + 1];
      if (value === undefined) throw new UsageError(`option ${arg} needs a value`);
      out.push(`--${arg === "-l" ? "selector" : "namespace"}=${value}`);
      i++;
    } else if (arg === "--kube" && (argv[i + 1] === undefined || argv[i + 1].startsWith("-"))) {
      out.push("--kube=");
    } else {
      out.push(arg);
    }
  }
  return out;
}

export interface FleetTarget {
  location: RemoteLocation;
  /** `ssh://root@db1`, as errors name it. */
  url: string;
  /** What its rows are tagged with: the host, the pod, the container. */
  tag: string;
}

function target(location: RemoteLocation): FleetTarget {
  return { location, url: locationUrl(location), tag: locationTag(location) };
}

function list(value: string): string[] {
  return value
    .split(",")
    .map((s) => s.trim())
    .filter((s) => s !== "");
}

/** The running pods matching `selector` (in `namespace`), through `$MANHOLE_KUBECTL get pods -o json`. */
export async function podsBySelector(selector: string, namespace: string | undefined, timeoutMs: number): Promise<RemoteLocation[]> {
  const argv = [...transportTemplate("kube"), "get", "pods", ...(namespace ? ["-n", namespace] : []), "-l", selector, "-o", "json"];
  const label = `pods -l ${selector}`;
  const text = await runRemote({ kind: "kube", pod: "", ...(namespace ? { namespace } : {}) }, [], { label, timeoutMs, argv });
  let items: { metadata?: { name?: string; namespace?: string }; status?: { phase?: string } }[];
  try {
    items = (JSON.parse(text) as { items?: typeof items }).items ?? [];
  } catch {
    throw new CliError(EXIT.transport, `${label}: kubectl get pods did not print JSON`);
  }
  const pods: RemoteLocation[] = [];
  for (const item of items) {
    const name = item.metadata?.name;
    if (!name || item.status?.phase !== "Running") continue;
    const ns = item.metadata?.namespace ?? namespace;
    pods.push(parseKubePod(ns ? `${ns}/${name}` : name));
  }
  if (pods.length === 0) throw new CliError(EXIT.noManhole, `no running pod matches ${selector}${namespace ? ` in ${namespace}` : ""}`);
  return pods;
}

/**
 * The fleet named by `args` (--ssh/--kube/--docker lists, -l, or several remote URLs among
 * `urls`), or undefined when none is named (the local machine).
 */
export async function fleetTargets(args: ParsedArgs, urls: string[] = []): Promise<FleetTarget[] | undefined> {
  const o = args.options;
  const kinds = (["ssh", "kube", "docker"] as const).filter((k) => o[k] !== undefined);
  if (kinds.length > 1) throw new UsageError(`--${kinds[0]} and --${kinds[1]} cannot be combined`);
  if (o.selector !== undefined && o.kube === undefined) throw new UsageError("-l <selector> is for --kube");
  if (o.namespace !== undefined && o.kube === undefined) throw new UsageError("-n <namespace> is for --kube");
  const out: FleetTarget[] = [];
  for (const url of urls) {
    const parsed = parseRemote(url);
    if (!parsed) throw new UsageError(`${url} is not a remote target (ssh://host/, kube://pod/, docker://container/)`);
    if (parsed.target !== "") throw new UsageError(`${url}: a fleet lists whole targets; drop the pid "${parsed.target}"`);
    out.push(target(parsed.location));
  }
  if (o.ssh !== undefined) out.push(...list(o.ssh).map((h) => target(parseSshHost(h))));
  if (o.docker !== undefined) out.push(...list(o.docker).map((c) => target(parseDockerContainer(c))));
  if (o.kube !== undefined) {
    if (o.selector !== undefined) {
      if (o.kube !== "") throw new UsageError("--kube takes either pods or -l <selector>, not both");
      const pods = await podsBySelector(o.selector, o.namespace, parseTargetTimeout(args));
      out.push(...pods.map(target));
    } else {
      if (o.kube === "") throw new UsageError("--kube needs pods ([namespace/]pod,...) or -l <selector>");
      out.push(
        ...list(o.kube).map((p) => {
          const l = parseKubePod(p);
          return target(o.namespace && l.kind === "kube" && !l.namespace ? { ...l, namespace: o.namespace } : l);
        }),
      );
    }
  }
  if (out.length === 0) {
    if (kinds.length > 0) throw new UsageError(`--${kinds[0]} names no target`);
    return undefined;
  }
  // A target named twice (`--ssh web1,web1`) is one target: its processes are listed, and
  // evaluated in, once.
  const seen = new Set<string>();
  return out.filter((t) => !seen.has(t.url) && seen.add(t.url));
}

function positiveInt(args: ParsedArgs, name: string, fallback: number): number {
  const text = args.options[name];
  if (text === undefined) return fallback;
  const n = Number(text);
  if (!Number.isInteger(n) || n <= 0) throw new UsageError(`--${name} needs a positive integer`);
  return n;
}

export const parseParallel = (args: ParsedArgs): number => positiveInt(args, "parallel", 8);
export const parseTargetTimeout = (args: ParsedArgs): number => positiveInt(args, "target-timeout", 20_000);

/** At most `n` tasks at a time, in the order they were asked for. */
export class Limiter {
  private running = 0;
  private readonly waiting: (() => void)[] = [];
  constructor(private readonly n: number) {}

  async run<T>(task: () => Promise<T>): Promise<T> {
    if (this.running >= this.n) await new Promise<void>((resolve) => this.waiting.push(resolve));
    else this.running++;
    try {
      return await task();
    } finally {
      const next = this.waiting.shift();
      if (next) next();
      else this.running--;
    }
  }
}

/** One live manhole on a remote target: the far side's `ls --json` object, with where it is. */
export interface RemoteProcess {
  fleet: FleetTarget;
  /** The URL that reaches it (`ssh://root@db1/4242`). */
  url: string;
  /** `db1/4242`. */
  tag: string;
  entry: Record<string, unknown> & { pid: number; app?: string; state?: string };
}

/** The live manholes of `t`, by running `manhole ls --json` there. */
export async function listTarget(
  t: FleetTarget,
  { helloTimeoutMs, timeoutMs }: { helloTimeoutMs: number; timeoutMs: number },
): Promise<RemoteProcess[]> {
  if (timeoutMs <= 0) throw new CliError(EXIT.timeout, `${t.url}: timed out`);
  const text = await runRemote(t.location, ["ls", "--json", "--timeout", String(helloTimeoutMs)], { label: t.url, timeoutMs });
  let entries: RemoteProcess["entry"][];
  try {
    entries = JSON.parse(text);
    if (!Array.isArray(entries)) throw new Error("not an array");
  } catch {
    throw new CliError(EXIT.transport, `${t.url}: manhole ls --json there printed no JSON array (is it an old manhole?)`);
  }
  return entries
    .filter((e) => Number.isInteger(e?.pid))
    .map((entry) => ({ fleet: t, url: remoteUrl(t.location, entry.pid), tag: `${t.tag}/${entry.pid}`, entry }));
}

export interface TargetFailure {
  fleet: FleetTarget;
  error: CliError;
}

export function asCliError(err: unknown): CliError {
  return err instanceof CliError ? err : new CliError(EXIT.failure, err instanceof Error ? err.message : String(err));
}
