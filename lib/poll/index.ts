/** One way to poll: a check called until it yields a value, with interval, backoff, deadline, abort and a clock. */

/** For tests and stand-ins: a clock whose sleep() moves time on at once. */
export { type ManualClock, manualClock } from './manual-clock.ts'
export {
  type Clock,
  type PollAttempt,
  type PollOptions,
  PollTimeoutError,
  type PollWait,
  poll,
  REAL_CLOCK,
} from './poll.ts'
