/**
 * `node --import manhole/auto app.mjs` or `node --require manhole/auto app.js` (also through
 * NODE_OPTIONS): a manhole for an app that does not call startManhole(), configured from the
 * environment (env-options.ts). Nothing here may stop the app: every problem is one line on
 * stderr, and the app runs on.
 */
import { startAuto } from "./auto-start.js";

startAuto();
