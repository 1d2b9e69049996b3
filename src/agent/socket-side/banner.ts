/** The text a human sees on connect. */
import { formatDuration } from "../../shared/duration.js";
import type { LoopState } from "./supervisor.js";

export interface AgentInfo {
  pid: number;
  node: string;
  /** `name@version` of the app's package.json, or the script being run. */
  app: string;
  /** When the process started, ms since the epoch. */
  startedAt: number;
}

export function defaultBanner(info: AgentInfo): string {
  const uptime = formatDuration(Date.now() - info.startedAt);
  return `manhole: pid ${info.pid}, node ${info.node}, app ${info.app}, up ${uptime}\nType .help for commands; .exit or Ctrl-D leaves.\n`;
}

/** The configured banner (or the default), followed by a warning when the event loop is blocked or a session has paused the main thread. */
export function bannerFor(custom: string | null | undefined, info: AgentInfo, loop: LoopState | undefined, pausedBy?: number): string {
  let text = custom === undefined ? defaultBanner(info) : custom === null ? "" : custom;
  if (text !== "" && !text.endsWith("\n")) text += "\n";
  if (pausedBy !== undefined)
    text += `WARNING: the main thread is paused by session ${pausedBy} (.pause); its event loop is blocked until that session resumes it (try .stack)\n`;
  else if (loop?.blocked) text += `WARNING: the event loop is blocked for ${formatDuration(loop.sinceMs)} (try .stack)\n`;
  return text;
}
