/**
 * Delivers the notification outbox: the customer notifications that saveOrder
 * wrote in the same transaction as the order versions announcing them.
 *
 * Each worker process runs one dispatcher on the read model it writes. It
 * claims due messages (a lease, so that dispatchers in other processes leave
 * them alone), sends each with `notifications.v1.Send`, and deletes it once
 * sent. Delivery is at least once: a crash between sending and deleting, or a
 * lost response, sends again after the lease or the retry; the message id is
 * the Send idempotency key, so the service records it once. Notifications are
 * best effort (docs/spec.md section 5.5): a failed send is retried with backoff up to
 * `maxAttempts`, then logged and kept as a dead letter; a permanent error
 * (INVALID_ARGUMENT, NOT_FOUND, …) gives up at once. ALREADY_EXISTS (the key was
 * used for other content) means the customer has a notification under this
 * key already, and counts as delivered.
 */

import { setTimeout as sleep } from "node:timers/promises";
import { Code, ConnectError } from "@connectrpc/connect";
import { isPermanentDownstreamError } from "../activities/failures.js";
import type { DownstreamClients } from "../clients/downstream.js";
import { notificationKey } from "../domain/notification.js";
import type { ClaimedOutboxMessage, OrderStore } from "../readmodel/store.js";
import { notificationSendRequest } from "./notification-request.js";

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
  /** Sends in flight at once. Default 32. */
  concurrency?: number;
  /**
   * The least time between two claims while messages keep arriving. Each
   * claim and each settled batch is a write transaction: under load, waiting
   * a little lets one claim take the messages of many orders instead of one
   * claim per order (at 30 messages/s, 100 ms took a third of the claims of
   * 20 ms). Notifications are best effort; 0.1 s later costs nothing. Default 100 ms.
   */
  claimIntervalMs?: number;
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
  /** Deadline of one Send. Default: the client's (OMS_DOWNSTREAM_TIMEOUT_MS). */
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
  const claimIntervalMs = options.claimIntervalMs ?? 100;
  const completeDelayMs = options.completeDelayMs ?? 200;
  const initialBackoffMs = positive(options.initialBackoffMs ?? 1_000, "initialBackoffMs");
  const maxBackoffMs = positive(options.maxBackoffMs ?? 20_000, "maxBackoffMs");
  const sendTimeoutMs = options.sendTimeoutMs;
  const leaseMs = positive(
    options.leaseMs ?? Math.max(60_000, 3 * (sendTimeoutMs ?? 0)),
    "leaseMs",
  );

  const inFlight = new Set<Promise<void>>();
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
  /** Ends the current sleep early. */
  let interrupt = new AbortController();
  let claimFailures = 0;

  const kick = (): void => {
    kicked = true;
    claimWanted = true;
    interrupt.abort();
  };

  const backoff = (attempts: number): number =>
    Math.min(maxBackoffMs, initialBackoffMs * 2 ** Math.max(0, attempts - 1));

  async function deliver(message: ClaimedOutboxMessage): Promise<void> {
    const fields = { orderId: message.orderId, kind: message.kind };
    let request: ReturnType<typeof notificationSendRequest>;
    try {
      if (message.messageId !== notificationKey(message.orderId, message.kind, message.subject)) {
        throw new TypeError(
          `message id ${JSON.stringify(message.messageId)} is not its idempotency key`,
        );
      }
      request = notificationSendRequest(message);
    } catch (err) {
      // Malformed: no attempt can send it.
      await giveUp(message, describe(err), fields);
      return;
    }
    try {
      await clients.notifications.send(
        request,
        sendTimeoutMs === undefined ? {} : { timeoutMs: sendTimeoutMs },
      );
    } catch (err) {
      const error = describe(err);
      if (err instanceof ConnectError && err.code === Code.AlreadyExists) {
        // The service already sent a notification under this key, with other
        // content (a message rewritten after delivery): the customer has it,
        // and no retry can send another.
        logger.warn(
          { ...fields, messageId: message.messageId, error },
          "notification already sent with other content; not sending again",
        );
        markDelivered(message.messageId);
      } else if (isPermanentDownstreamError(err) || message.attempts >= maxAttempts) {
        await giveUp(message, error, fields);
      } else {
        const delayMs = backoff(message.attempts);
        logger.debug(
          { ...fields, messageId: message.messageId, attempts: message.attempts, delayMs, error },
          "notification not sent; retrying",
        );
        await settle(() =>
          store.retryOutbox(message, { error, notBefore: new Date(Date.now() + delayMs) }),
        );
      }
      return;
    }
    markDelivered(message.messageId);
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

  async function giveUp(
    message: ClaimedOutboxMessage,
    error: string,
    fields: { orderId: string; kind: string },
  ): Promise<void> {
    logger.warn(
      { ...fields, messageId: message.messageId, attempts: message.attempts, error },
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

  function start(message: ClaimedOutboxMessage): void {
    const running: Promise<void> = deliver(message)
      .catch((err: unknown) => {
        // deliver handles its own errors; this is a last guard for bugs.
        logger.warn(
          { messageId: message.messageId, error: describe(err) },
          "notification outbox: delivery failed unexpectedly",
        );
      })
      .finally(() => {
        inFlight.delete(running);
        // A freed slot matters only when the last claim left messages behind;
        // the message sent is deleted with others (markDelivered).
        if (lastClaimFull) kick();
      });
    inFlight.add(running);
  }

  async function loop(): Promise<void> {
    let lastClaim = 0;
    while (!stopped) {
      kicked = false;
      await completeDelivered();
      const free = concurrency - inFlight.size;
      let claimed = 0;
      const due = claimWanted || Date.now() - lastClaim >= pollIntervalMs;
      if (free > 0 && due) {
        const gap = lastClaim + claimIntervalMs - Date.now();
        if (gap > 0) await sleep(gap);
        lastClaim = Date.now();
        claimWanted = false;
        try {
          const batch = await store.claimOutbox({ limit: free, leaseMs });
          claimed = batch.length;
          lastClaimFull = claimed === free;
          claimFailures = 0;
          for (const message of batch) start(message);
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
      if (!stopped) kick();
    },
    stop() {
      stopping ??= (async () => {
        stopped = true;
        interrupt.abort();
        await running;
        await Promise.all([...inFlight]);
        await completeDelivered();
        await Promise.all([...completing]);
      })();
      return stopping;
    },
  };
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
