// A DOM for the adapters' Node tests (happy-dom), registered on import — import it first, before
// react-dom or vue read the globals. Each test file runs in its own process under `node --test`.
import { createRequire } from "node:module";

// Loaded synchronously (require of an ES module, Node >= 20.19) so that the globals exist before
// the next import runs, and untyped: happy-dom's declarations need a newer @types/node than the
// Node 20 this project tests with.
const require = createRequire(import.meta.url);
const { GlobalRegistrator } = require("@happy-dom/global-registrator") as { GlobalRegistrator: { register(options: { url: string }): void } };

GlobalRegistrator.register({ url: "http://localhost/" });
// React's `act` warns unless the environment says it is a test.
(globalThis as { IS_REACT_ACT_ENVIRONMENT?: boolean }).IS_REACT_ACT_ENVIRONMENT = true;
