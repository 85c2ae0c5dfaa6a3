/** A bounded list: the first `limit` items and the count of the rest (what a report for people keeps of a run). */
export class Bounded<T> {
  readonly items: T[] = [];
  more = 0;
  constructor(readonly limit: number) {}
  add(item: T): void {
    if (this.items.length < this.limit) this.items.push(item);
    else this.more++;
  }
  get total(): number {
    return this.items.length + this.more;
  }
}
