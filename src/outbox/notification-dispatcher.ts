/**
 * Delivers the notification outbox: the customer notifications that saveOrder
 * wrote in the same transaction as the order versions announcing them.
 *
 * Each worker process runs one dispatcher on the read model it writes. It
 * claims due messages (a lease, so that dispatchers in other processes leave
 * them alone), sends them with `notifications.v1.SendBatch` (one call per
 * claim, up to `batchSize` messages a call), and deletes each once sent. A
 * write that queued messages wakes it; the claim waits a short gathering
 * window (`gatherMs`) so that the writes of the next moments go in the same
 * call: notifications are best effort, and a quarter second is not noticed.
 * Delivery is at least once: a crash between sending and deleting, or a lost
 * response, sends again after the lease or the retry; the message id is the
 * idempotency key of its item, so the service records it once. Notifications
 * are best effort (docs/spec.md section 5.5): a failed send is retried with
 * backoff up to `maxAttempts`, then logged and kept as a dead letter; a
 * permanent error (INVALID_ARGUMENT, NOT_FOUND, …) gives up at once.
 * ALREADY_EXISTS (the key was used for other content) means the customer has a
 * notification under this key already, and counts as delivered.
 *
 * Each message is settled by its own outcome: its item's result in a
 * SendBatch response, or, when the call failed as a whole, that failure. A
 * call that failed with a transient error (UNAVAILABLE, a deadline, …) counts
 * as a failed attempt of each of its messages; one that failed with a
 * permanent error says nothing of any item, so its messages are sent one by
 * one with `Send`, each to its own verdict. A service without SendBatch
 * (UNIMPLEMENTED) gets one `Send` per message from then on.
 */

import { setTimeout as sleep } from "node:timers/promises";
import type { MessageInitShape } from "@bufbuild/protobuf";
import { Code, ConnectError } from "@connectrpc/connect";
import type {
  SendBatchResult,
  SendRequestSchema,
} from "../../gen/notifications/v1/notification_service_pb.js";
import { isPermanentDownstreamError } from "../activities/failures.js";
import type { DownstreamClients } from "../clients/downstream.js";
import { notificationKey } from "../domain/notification.js";
import { errorFromStatus } from "../net/rpc-status.js";
import type { ClaimedOutboxMessage, OrderStore } from "../readmodel/store.js";
import { notificationSendRequest } from "./notification-request.js";

/** The most items a SendBatch call may carry (notifications.v1.SendBatchRequest). */
export const MAX_SEND_BATCH = 100;

/** The log lines a dispatcher writes; a pino logger fits. */
export interface DispatcherLogger {
  warn(fields: Record<string, unknown>, message: string): void;
  debug(fields: Record<string, unknown>, message: string): void;
}

/** Options of {@link startNotificationDispatcher}. */
export interface NotificationDispatcherOptions {
  store: Pick<OrderStore, "claimOutbox" | "completeOutbox" | "retryOutbox" | "deadLetterOutbox">;
  clients: Pick<DownstreamClients, "notifications">;
  logger: DispatcherLogger;
  /** How often the outbox is looked at when nothing wakes the dispatcher. Default 200 ms. */
  pollIntervalMs?: number;
  /** Attempts (claims) of one message before it becomes a dead letter. Default 5. */
  maxAttempts?: number;
  /**
   * Messages in flight at once: claimed and not yet settled. A claim takes at
   * most the free ones, and its messages go out in ⌈n / batchSize⌉ calls.
   * Default 32.
   */
  concurrency?: number;
  /**
   * Most messages per SendBatch call, 1 to {@link MAX_SEND_BATCH}. Default
   * {@link MAX_SEND_BATCH} (so, with the default concurrency, a claim is one call).
   */
  batchSize?: number;
  /**
   * The least time between two claims while messages keep arriving. Each
   * claim and each settled batch is a write transaction: under load, waiting
   * a little lets one claim take the messages of many orders instead of one
   * claim per order (at 30 messages/s, 100 ms took a third of the claims of
   * 20 ms). Notifications are best effort; 0.1 s later costs nothing. Default 100 ms.
   */
  claimIntervalMs?: number;
  /**
   * How long a wake (a write that queued messages) waits before it claims,
   * gathering the messages written meanwhile: wakes within the window join
   * it. Each claim is a SendBatch call, a claim and a delete transaction, in
   * the worker and the notification service alike: one order's notifications
   * come in bursts (its dispatch, delivery and completion a few writes apart),
   * and under load a wake follows every claim, so the window also spaces the
   * claims. Polls (retries, messages other processes wrote) do not wait.
   * 0: claim at once. Default 250 ms.
   */
  gatherMs?: number;
  /**
   * How long a sent message may wait to be deleted together with the ones
   * sent after it, unless the loop's next turn deletes it first. Each delete
   * is a write transaction; a sent message stays claimed meanwhile. Default 200 ms.
   */
  completeDelayMs?: number;
  /** Backoff after the first failed attempt; doubled after each further one. Default 1 s. */
  initialBackoffMs?: number;
  /** Upper bound of the backoff. Default 20 s. */
  maxBackoffMs?: number;
  /** Deadline of one Send or SendBatch call. Default: the client's (OMS_DOWNSTREAM_TIMEOUT_MS). */
  sendTimeoutMs?: number;
  /**
   * How long a claim holds a message against other dispatchers; must outlast
   * a send. Default 60 s, or three send deadlines if that is longer.
   */
  leaseMs?: number;
}

/** A running dispatcher. */
export interface NotificationDispatcher {
  /** Look at the outbox now rather than at the next poll (after saveOrder wrote messages). */
  wake(): void;
  /** Stops claiming and resolves once the sends in flight have settled. Idempotent. */
  stop(): Promise<void>;
}

/** Starts delivering the outbox in the background. */
export function startNotificationDispatcher(
  options: NotificationDispatcherOptions,
): NotificationDispatcher {
  const { store, clients, logger } = options;
  const pollIntervalMs = positive(options.pollIntervalMs ?? 200, "pollIntervalMs");
  const maxAttempts = positive(options.maxAttempts ?? 5, "maxAttempts");
  const concurrency = positive(options.concurrency ?? 32, "concurrency");
  const batchSize = positive(options.batchSize ?? MAX_SEND_BATCH, "batchSize");
  if (batchSize > MAX_SEND_BATCH) {
    throw new RangeError(`batchSize must be at most ${MAX_SEND_BATCH}, got ${batchSize}`);
  }
  const claimIntervalMs = options.claimIntervalMs ?? 100;
  const gatherMs = options.gatherMs ?? 250;
  if (!(Number.isFinite(gatherMs) && gatherMs >= 0)) {
    throw new RangeError(`gatherMs must be a non-negative number, got ${gatherMs}`);
  }
  const completeDelayMs = options.completeDelayMs ?? 200;
  const initialBackoffMs = positive(options.initialBackoffMs ?? 1_000, "initialBackoffMs");
  const maxBackoffMs = positive(options.maxBackoffMs ?? 20_000, "maxBackoffMs");
  const sendTimeoutMs = options.sendTimeoutMs;
  const callOptions = sendTimeoutMs === undefined ? {} : { timeoutMs: sendTimeoutMs };
  const leaseMs = positive(
    options.leaseMs ?? Math.max(60_000, 3 * (sendTimeoutMs ?? 0)),
    "leaseMs",
  );

  /** Deliveries under way (a call, or a give-up), awaited by stop. */
  const inFlight = new Set<Promise<void>>();
  /** Messages claimed and not yet settled (bounded by concurrency). */
  let inFlightMessages = 0;
  /** The service answered SendBatch with UNIMPLEMENTED: one Send per message from then on. */
  let batchUnsupported = false;
  /**
   * Sent messages not yet deleted: deleted together, one statement per loop
   * turn or per completeDelayMs, whichever comes first.
   */
  let delivered: string[] = [];
  let completeTimer: ReturnType<typeof setTimeout> | undefined;
  /** Deletions started by completeTimer, awaited by stop. */
  const completing = new Set<Promise<void>>();
  let stopped = false;
  /** Set by kick: take another turn before sleeping. */
  let kicked = false;
  /**
   * Set by wake(), and by a finished send while the last claim was full:
   * something may be due that the last claim did not take. A send that
   * finishes otherwise wakes nothing; what may have become due meanwhile
   * (retries, other writers' messages) waits for the next poll.
   */
  let claimWanted = true;
  /** The last claim took as many messages as it asked for. */
  let lastClaimFull = false;
  /** When the first wake since the last claim came: the claim waits until gatherMs after it. */
  let wokenAt: number | undefined;
  /** Ends the current sleep early. */
  let interrupt = new AbortController();
  /** Ends a gathering window early, at stop. */
  const halt = new AbortController();
  let claimFailures = 0;

  const kick = (): void => {
    kicked = true;
    claimWanted = true;
    interrupt.abort();
  };

  const backoff = (attempts: number): number =>
    Math.min(maxBackoffMs, initialBackoffMs * 2 ** Math.max(0, attempts - 1));

  /** A claimed message with its Send request, or undefined after giving it up (malformed). */
  async function prepare(message: ClaimedOutboxMessage): Promise<Prepared | undefined> {
    try {
      if (message.messageId !== notificationKey(message.orderId, message.kind, message.subject)) {
        throw new TypeError(
          `message id ${JSON.stringify(message.messageId)} is not its idempotency key`,
        );
      }
      return { message, request: notificationSendRequest(message) };
    } catch (err) {
      // Malformed: no attempt can send it.
      await giveUp(message, describe(err));
      return undefined;
    }
  }

  /** Sends up to batchSize messages in one SendBatch call and settles each. */
  async function deliverBatch(items: Prepared[]): Promise<void> {
    if (batchUnsupported) {
      await Promise.all(items.map(deliverOne));
      return;
    }
    let results: SendBatchResult[];
    try {
      ({ results } = await clients.notifications.sendBatch(
        { requests: items.map((item) => item.request) },
        callOptions,
      ));
    } catch (err) {
      if (err instanceof ConnectError && err.code === Code.Unimplemented) {
        if (!batchUnsupported) {
          batchUnsupported = true;
          logger.warn(
            { error: describe(err) },
            "notification service has no SendBatch; sending one message per Send call from now on",
          );
        }
        await Promise.all(items.map(deliverOne));
      } else if (isPermanentDownstreamError(err)) {
        // Says nothing of any one item (e.g. a batch the service finds too
        // big): each message alone gets its own verdict.
        logger.warn(
          { messages: items.length, error: describe(err) },
          "notification batch refused as a whole; sending its messages one by one",
        );
        await Promise.all(items.map(deliverOne));
      } else {
        // Transient (unavailable, deadline, lost response): a failed attempt of each.
        await Promise.all(items.map((item) => failed(item.message, err)));
      }
      return;
    }
    await Promise.all(
      items.map((item, i) => {
        const result = results[i]?.result;
        switch (result?.case) {
          case "sent":
          case "duplicate":
            markDelivered(item.message.messageId);
            return undefined;
          case "error":
            return failed(item.message, errorFromStatus(result.value));
          default:
            // A service that answered fewer results than items (or an empty one):
            // this message's fate is unknown, so it is attempted again.
            return failed(
              item.message,
              new ConnectError(
                `SendBatch answered ${results.length} results for ${items.length} items`,
                Code.Internal,
              ),
            );
        }
      }),
    );
  }

  /** Sends one message with Send and settles it. */
  async function deliverOne({ message, request }: Prepared): Promise<void> {
    try {
      await clients.notifications.send(request, callOptions);
    } catch (err) {
      await failed(message, err);
      return;
    }
    markDelivered(message.messageId);
  }

  /** Settles a message whose send failed with `err`, by the rules above. */
  async function failed(message: ClaimedOutboxMessage, err: unknown): Promise<void> {
    const fields = { orderId: message.orderId, kind: message.kind, messageId: message.messageId };
    const error = describe(err);
    if (err instanceof ConnectError && err.code === Code.AlreadyExists) {
      // The service already sent a notification under this key, with other
      // content (a message rewritten after delivery): the customer has it,
      // and no retry can send another.
      logger.warn(
        { ...fields, error },
        "notification already sent with other content; not sending again",
      );
      markDelivered(message.messageId);
    } else if (isPermanentDownstreamError(err) || message.attempts >= maxAttempts) {
      await giveUp(message, error);
    } else {
      const delayMs = backoff(message.attempts);
      logger.debug(
        { ...fields, attempts: message.attempts, delayMs, error },
        "notification not sent; retrying",
      );
      await settle(() =>
        store.retryOutbox(message, { error, notBefore: new Date(Date.now() + delayMs) }),
      );
    }
  }

  function markDelivered(messageId: string): void {
    delivered.push(messageId);
    completeTimer ??= setTimeout(() => {
      completeTimer = undefined;
      const done: Promise<void> = completeDelivered().finally(() => completing.delete(done));
      completing.add(done);
    }, completeDelayMs);
  }

  /** Deletes the messages sent since the last turn. */
  async function completeDelivered(): Promise<void> {
    clearTimeout(completeTimer);
    completeTimer = undefined;
    if (delivered.length === 0) return;
    const ids = delivered;
    delivered = [];
    await settle(() => store.completeOutbox(ids));
  }

  async function giveUp(message: ClaimedOutboxMessage, error: string): Promise<void> {
    logger.warn(
      {
        orderId: message.orderId,
        kind: message.kind,
        messageId: message.messageId,
        attempts: message.attempts,
        error,
      },
      "notification not sent; giving up (dead letter)",
    );
    await settle(() => store.deadLetterOutbox(message, error));
  }

  /**
   * Records an outcome. If the store fails, the claim simply runs out and the
   * message is attempted again (a sent one is then deduplicated by its key).
   */
  async function settle(write: () => Promise<unknown>): Promise<void> {
    try {
      await write();
    } catch (err) {
      logger.warn({ error: describe(err) }, "notification outbox: recording an outcome failed");
    }
  }

  /** Runs a delivery of `count` messages in the background, freeing their slots when it ends. */
  function track(count: number, delivery: () => Promise<void>): void {
    inFlightMessages += count;
    const running: Promise<void> = delivery()
      .catch((err: unknown) => {
        // Deliveries handle their own errors; this is a last guard for bugs.
        logger.warn(
          { messages: count, error: describe(err) },
          "notification outbox: delivery failed unexpectedly",
        );
      })
      .finally(() => {
        inFlight.delete(running);
        inFlightMessages -= count;
        // A freed slot matters only when the last claim left messages behind;
        // the messages sent are deleted with others (markDelivered).
        if (lastClaimFull) kick();
      });
    inFlight.add(running);
  }

  /** Delivers a claim: its well-formed messages in calls of up to batchSize. */
  function start(claimed: ClaimedOutboxMessage[]): void {
    track(claimed.length, async () => {
      const prepared = await Promise.all(claimed.map(prepare));
      const items = prepared.filter((item): item is Prepared => item !== undefined);
      const calls: Promise<void>[] = [];
      for (let i = 0; i < items.length; i += batchSize) {
        calls.push(deliverBatch(items.slice(i, i + batchSize)));
      }
      await Promise.all(calls);
    });
  }

  async function loop(): Promise<void> {
    let lastClaim = 0;
    while (!stopped) {
      kicked = false;
      await completeDelivered();
      const free = concurrency - inFlightMessages;
      let claimed = 0;
      const due = claimWanted || Date.now() - lastClaim >= pollIntervalMs;
      if (free > 0 && due) {
        const claimAt = Math.max(
          lastClaim + claimIntervalMs,
          wokenAt === undefined ? 0 : wokenAt + gatherMs,
        );
        const gap = claimAt - Date.now();
        // Wakes meanwhile join this claim; stop ends the wait and claims nothing.
        if (gap > 0) await sleep(gap, undefined, { signal: halt.signal }).catch(() => {});
        if (stopped) break;
        lastClaim = Date.now();
        claimWanted = false;
        wokenAt = undefined;
        try {
          const batch = await store.claimOutbox({ limit: free, leaseMs });
          claimed = batch.length;
          lastClaimFull = claimed === free;
          claimFailures = 0;
          if (batch.length > 0) start(batch);
        } catch (err) {
          // The read model is unreachable: the next poll tries again. Logged
          // once per outage, not once per poll.
          if (claimFailures++ === 0) {
            logger.warn({ error: describe(err) }, "notification outbox: claiming failed");
          }
        }
        if (stopped) break;
        // A full batch means more may be due; take them as slots free up.
        if (claimed > 0 && claimed === free) continue;
      }
      if (kicked) continue;
      interrupt = new AbortController();
      // A wake between the check above and here aborted the old controller;
      // kicked tells.
      if (kicked) continue;
      // Every slot busy: a finished send wakes the loop.
      const untilPoll =
        free > 0 ? Math.max(0, lastClaim + pollIntervalMs - Date.now()) : pollIntervalMs;
      await sleep(untilPoll, undefined, { signal: interrupt.signal }).catch(() => {});
    }
  }

  const running = loop();
  let stopping: Promise<void> | undefined;

  return {
    wake() {
      if (stopped) return;
      wokenAt ??= Date.now();
      kick();
    },
    stop() {
      stopping ??= (async () => {
        stopped = true;
        interrupt.abort();
        halt.abort();
        await running;
        await Promise.all([...inFlight]);
        await completeDelivered();
        await Promise.all([...completing]);
      })();
      return stopping;
    },
  };
}

/** A well-formed claimed message and its Send request. */
interface Prepared {
  message: ClaimedOutboxMessage;
  request: MessageInitShape<typeof SendRequestSchema>;
}

function describe(err: unknown): string {
  if (err instanceof ConnectError) return err.message;
  return err instanceof Error ? err.message : String(err);
}

function positive(value: number, name: string): number {
  if (!(Number.isFinite(value) && value > 0)) {
    throw new RangeError(`${name} must be a positive number, got ${value}`);
  }
  return value;
}
