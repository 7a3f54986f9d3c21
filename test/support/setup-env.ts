// Test process setup: what Node 20 lacks and what the AWS SDK needs to run without an account.

if (typeof (Promise as { withResolvers?: unknown }).withResolvers !== 'function') {
  // aws-local-stepfunctions calls Promise.withResolvers (Node 22+).
  Object.defineProperty(Promise, 'withResolvers', {
    configurable: true,
    writable: true,
    value: <T>() => {
      let resolve!: (value: T | PromiseLike<T>) => void;
      let reject!: (reason?: unknown) => void;
      const promise = new Promise<T>((res, rej) => {
        resolve = res;
        reject = rej;
      });
      return { promise, resolve, reject };
    },
  });
}

process.env.AWS_REGION ??= 'us-east-1';
// Tests talk to dynalite and mocks only; the SDK's Node 20 end-of-support notice is noise there.
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED = 'true';
process.env.AWS_EC2_METADATA_DISABLED = 'true';
process.env.POWERTOOLS_DEV ??= 'false';
