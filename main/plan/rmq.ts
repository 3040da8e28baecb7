/** Range maximum queries in O(1) after an O(n log n) sparse table; ties go to the leftmost. */
export class RangeMax {
  private readonly levels: Int32Array[] = []; // levels[k][i] = argmax of v[i .. i + 2^k)
  constructor(private readonly v: Float64Array) {
    const n = v.length;
    let cur = new Int32Array(n);
    for (let i = 0; i < n; i++) cur[i] = i;
    this.levels.push(cur);
    for (let w = 1; 2 * w <= n; w *= 2) {
      const next = new Int32Array(n - 2 * w + 1);
      for (let i = 0; i < next.length; i++) {
        const a = cur[i];
        const b = cur[i + w];
        next[i] = v[b] > v[a] ? b : a;
      }
      this.levels.push(next);
      cur = next;
    }
  }
  /** Index of the (leftmost) maximum of v[lo .. hi), hi > lo. */
  argmax(lo: number, hi: number): number {
    const k = 31 - Math.clz32(hi - lo);
    const lvl = this.levels[k];
    const a = lvl[lo];
    const b = lvl[hi - (1 << k)];
    return this.v[b] > this.v[a] ? b : a;
  }
  max(lo: number, hi: number): number {
    return this.v[this.argmax(lo, hi)];
  }
}
