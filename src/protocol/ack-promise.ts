/**
 * emitWithAck() of both ends' sockets (the server's and the browser
 * client's), which answer acknowledgements the same way. Pure: no timers of
 * its own.
 */

/**
 * Calls `emit` with an acknowledgement callback and promises the answer. With
 * a timeout set (socket.timeout(ms) before the emit), the callback gets
 * `(err, answer)` instead: an error rejects.
 */
export function ackPromise(emit: (ack: (first: unknown, second?: unknown) => void) => void, timeout: number | undefined): Promise<any> {
  return new Promise((resolve, reject) => {
    emit((first, second) => {
      if (timeout === undefined) return resolve(first);
      return first ? reject(first) : resolve(second);
    });
  });
}
