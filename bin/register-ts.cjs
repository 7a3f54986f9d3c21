// Lets Node load the project's TypeScript directly (CLI, benchmarks) and polyfills what Node 20 lacks.
require('tsx/cjs/api').register();
if (typeof Promise.withResolvers !== 'function') {
  // aws-local-stepfunctions calls Promise.withResolvers (Node 22+); Node 20 needs this shim.
  Promise.withResolvers = function withResolvers() {
    let resolve;
    let reject;
    const promise = new Promise((res, rej) => {
      resolve = res;
      reject = rej;
    });
    return { promise, resolve, reject };
  };
}
