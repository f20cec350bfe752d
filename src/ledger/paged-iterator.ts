// An AsyncIterable over pages fetched on demand. Items of a fetched page are handed out with an
// already-resolved promise each, which is several times cheaper per item than an async generator;
// a time-range query yields hundreds of thousands of records a second, so it shows. The next page
// is requested as soon as one arrives, so LevelDB reads it on the thread pool while this thread
// parses and hands out the current one.
export class PagedIterator<T> implements AsyncIterableIterator<T> {
  private buf: T[] = [];
  private pos = 0;
  private finished = false;
  private ahead: Promise<T[]> | null = null;

  /** fetch returns the next page, or an empty array at the end; cleanup runs once, at the end or on break. */
  constructor(
    private readonly fetch: () => Promise<T[]>,
    private readonly cleanup: () => Promise<void> = async () => {},
  ) {}

  [Symbol.asyncIterator](): this {
    return this;
  }

  next(): Promise<IteratorResult<T>> {
    if (this.pos < this.buf.length) return Promise.resolve({ value: this.buf[this.pos++], done: false });
    return this.refill();
  }

  private prefetch(): void {
    const p = this.fetch();
    // Held, not dropped: a failure surfaces on the next refill; until then it must not count as unhandled.
    p.catch(() => {});
    this.ahead = p;
  }

  private async refill(): Promise<IteratorResult<T>> {
    if (this.finished) return { value: undefined, done: true };
    let page: T[];
    try {
      page = await (this.ahead ?? this.fetch());
      this.ahead = null;
    } catch (e) {
      this.ahead = null;
      await this.return();
      throw e;
    }
    if (page.length === 0) return this.return();
    this.buf = page;
    this.pos = 1;
    this.prefetch();
    return { value: page[0], done: false };
  }

  async return(): Promise<IteratorResult<T>> {
    if (!this.finished) {
      this.finished = true;
      this.buf = [];
      // The source must not be closed under a read still in flight.
      if (this.ahead) await this.ahead.catch(() => {});
      this.ahead = null;
      await this.cleanup();
    }
    return { value: undefined, done: true };
  }
}
