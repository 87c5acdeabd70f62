import { DependencyUnavailableError } from "../domain/errors.js";
import { type OrderStore, ReadModelArgumentError } from "../readmodel/store.js";

/**
 * The store as the API uses it: a failure that is not about the caller's
 * arguments means the read model cannot be reached right now, which callers
 * see as UNAVAILABLE (retryable) rather than INTERNAL. The cause is logged by
 * the error mapping, never sent.
 */
export function withUnavailableErrors(store: OrderStore): OrderStore {
  return new Proxy(store, {
    get(target, property, receiver) {
      const value = Reflect.get(target, property, receiver);
      if (typeof value !== "function" || property === "close") return value;
      return async (...args: unknown[]) => {
        try {
          return await value.apply(target, args);
        } catch (err) {
          if (err instanceof ReadModelArgumentError) throw err;
          throw new DependencyUnavailableError("the read model", { cause: err });
        }
      };
    },
  });
}
