// Puts per second over a sliding window, so `stats` shows current load rather than a lifetime mean.
export class RateMeter {
  private readonly buckets: number[];
  private lastSecond = Math.floor(Date.now() / 1000);

  constructor(private readonly windowSeconds = 10) {
    this.buckets = new Array<number>(windowSeconds).fill(0);
  }

  mark(n = 1): void {
    this.advance();
    this.buckets[this.lastSecond % this.windowSeconds] += n;
  }

  perSecond(): number {
    this.advance();
    return this.buckets.reduce((a, b) => a + b, 0) / this.windowSeconds;
  }

  private advance(): void {
    const now = Math.floor(Date.now() / 1000);
    for (let s = this.lastSecond + 1; s <= now && s <= this.lastSecond + this.windowSeconds; s++) {
      this.buckets[s % this.windowSeconds] = 0;
    }
    this.lastSecond = Math.max(this.lastSecond, now);
  }
}
