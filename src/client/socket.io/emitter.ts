/** The event emitter under Engine, Manager and Socket: on/once/off, and a local emit. */

export type Listener = (...args: any[]) => void;

export class Emitter {
  private handlers: Record<string, Listener[]> = {};

  on(event: string, fn: Listener): this {
    (this.handlers[event] ??= []).push(fn);
    return this;
  }

  once(event: string, fn: Listener): this {
    const wrapper: Listener = (...args) => {
      this.off(event, wrapper);
      fn.apply(this, args);
    };
    // So that off(event, fn) finds it.
    (wrapper as { original?: Listener }).original = fn;
    return this.on(event, wrapper);
  }

  off(event?: string, fn?: Listener): this {
    if (event === undefined) this.handlers = {};
    else if (fn === undefined) delete this.handlers[event];
    else {
      const list = this.handlers[event];
      if (list) this.handlers[event] = list.filter((l) => l !== fn && (l as { original?: Listener }).original !== fn);
    }
    return this;
  }

  removeAllListeners(event?: string): this {
    return this.off(event);
  }

  listeners(event: string): Listener[] {
    return this.handlers[event]?.slice() ?? [];
  }

  hasListeners(event: string): boolean {
    return (this.handlers[event]?.length ?? 0) > 0;
  }

  /** Calls the listeners; one that throws is reported after, and the others still run. */
  protected emitLocal(event: string, ...args: unknown[]): void {
    for (const fn of this.listeners(event)) {
      try {
        fn.apply(this, args);
      } catch (err) {
        setTimeout(() => { throw err; });
      }
    }
  }
}
