// The await-heavy work of the bench apps: 20 chained promises, each awaited (what V8's promise
// fast paths speed up, and a promise hook or an active debugger slows down).
"use strict";

async function chain() {
  let p = Promise.resolve(0);
  for (let i = 0; i < 20; i++) p = p.then((n) => n + 1);
  let n = 0;
  for (let i = 0; i < 20; i++) n += await p;
  return n;
}

module.exports = { chain };
