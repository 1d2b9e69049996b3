import assert from "node:assert/strict";
import { test } from "node:test";
import { MODES, nc, requireTool, startApp } from "./helpers.mjs";

requireTool("nc");

for (const mode of MODES) {
  test(`${mode}: the seeds' transcript over nc`, async () => {
    const app = await startApp({ mode, options: { banner: "Well this is neat" } });
    try {
      const { stdout } = await nc(app.path, "f = 5 + 5\nf\nprocess.pid\n");
      assert.equal(stdout, `Well this is neat\n>>> 10\n>>> 10\n>>> ${app.child.pid}\n>>> `);
    } finally {
      await app.stop();
    }
  });
}
