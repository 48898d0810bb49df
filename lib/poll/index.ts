/** One way to poll: a check called until it yields a value, with interval, backoff, deadline, abort and a clock. */
export {
  type Clock,
  type PollAttempt,
  type PollOptions,
  PollTimeoutError,
  type PollWait,
  poll,
  REAL_CLOCK,
} from './poll.ts'
