// An AsyncIterable over pages fetched on demand. Items of a fetched page are handed out with an
// already-resolved promise each, which is several times cheaper per item than an async generator;
// a time-range query yields hundreds of thousands of records a second, so it shows.
export class PagedIterator<T> implements AsyncIterableIterator<T> {
  private buf: T[] = [];
  private pos = 0;
  private finished = false;

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

  private async refill(): Promise<IteratorResult<T>> {
    if (this.finished) return { value: undefined, done: true };
    let page: T[];
    try {
      page = await this.fetch();
    } catch (e) {
      await this.return();
      throw e;
    }
    if (page.length === 0) return this.return();
    this.buf = page;
    this.pos = 1;
    return { value: page[0], done: false };
  }

  async return(): Promise<IteratorResult<T>> {
    if (!this.finished) {
      this.finished = true;
      this.buf = [];
      await this.cleanup();
    }
    return { value: undefined, done: true };
  }
}
