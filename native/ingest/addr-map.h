// Port of main/store/addr-map.ts, slot for slot: the same hash, capacity, growth and
// backward-shift deletion, so that values() visits live blocks in the same order as the JS
// (the order of the live-at-exit allocation rows, hence their ids, depends on it).
#pragma once
#include <cstdint>
#include <utility>
#include <vector>
#include "common.h"

namespace mp {

template <class V>
class AddrMap {
 public:
  explicit AddrMap(size_t capacity = 1 << 16) {
    size_t cap = 16;
    while (cap < capacity) cap <<= 1;
    keys_.assign(cap, 0);
    vals_.resize(cap);
    mask_ = (uint32_t)(cap - 1);
  }

  size_t size() const { return count_ + big_.size(); }

  V* get(int64_t key) {
    if (key >= TWO53) {
      for (auto& kv : big_)
        if (kv.first == key) return &kv.second;
      return nullptr;
    }
    for (uint32_t i = slot((uint64_t)key);; i = (i + 1) & mask_) {
      uint64_t k = keys_[i];
      if (k == (uint64_t)key) return k == 0 ? nullptr : &vals_[i];
      if (k == 0) return nullptr;
    }
  }

  void set(int64_t key, const V& value) {
    if (key >= TWO53) {
      for (auto& kv : big_)
        if (kv.first == key) {
          kv.second = value;  // a JS Map keeps the key's first insertion position
          return;
        }
      big_.emplace_back(key, value);
      return;
    }
    if ((count_ + 1) * 2 > keys_.size()) grow();  // checked first, even when the key exists
    for (uint32_t i = slot((uint64_t)key);; i = (i + 1) & mask_) {
      uint64_t k = keys_[i];
      if (k == (uint64_t)key) {
        vals_[i] = value;
        return;
      }
      if (k == 0) {
        keys_[i] = (uint64_t)key;
        vals_[i] = value;
        count_++;
        return;
      }
    }
  }

  bool erase(int64_t key) {
    if (key >= TWO53) {
      for (size_t i = 0; i < big_.size(); i++)
        if (big_[i].first == key) {
          big_.erase(big_.begin() + (ptrdiff_t)i);
          return true;
        }
      return false;
    }
    uint32_t i = slot((uint64_t)key);
    for (;; i = (i + 1) & mask_) {
      if (keys_[i] == (uint64_t)key) break;
      if (keys_[i] == 0) return false;
    }
    uint32_t hole = i;
    for (uint32_t j = (i + 1) & mask_; keys_[j] != 0; j = (j + 1) & mask_) {
      uint32_t home = slot(keys_[j]);
      bool between = hole <= j ? home > hole && home <= j : home > hole || home <= j;
      if (!between) {
        keys_[hole] = keys_[j];
        vals_[hole] = vals_[j];
        hole = j;
      }
    }
    keys_[hole] = 0;
    vals_[hole] = V();
    count_--;
    return true;
  }

  // values(): table slots in order, then the big keys in insertion order.
  template <class F>
  void forEach(F f) const {
    for (size_t i = 0; i < keys_.size(); i++)
      if (keys_[i] != 0) f(vals_[i]);
    for (auto& kv : big_) f(kv.second);
  }

 private:
  // The JS slot(): lo/hi words of the key, Math.imul mixing, h ^ (h >>> 15).
  uint32_t slot(uint64_t k) const {
    uint32_t lo = (uint32_t)k, hi = (uint32_t)(k >> 32);
    uint32_t h = ((lo >> 4) ^ (hi * 0x9e3779b1u)) * 0x85ebca6bu;
    h ^= h >> 15;
    return h & mask_;
  }

  void grow() {
    std::vector<uint64_t> oldKeys(keys_.size() * 2, 0);
    std::vector<V> oldVals(vals_.size() * 2);
    oldKeys.swap(keys_);
    oldVals.swap(vals_);
    mask_ = (uint32_t)(keys_.size() - 1);
    count_ = 0;
    for (size_t i = 0; i < oldKeys.size(); i++)
      if (oldKeys[i] != 0) set((int64_t)oldKeys[i], oldVals[i]);
  }

  std::vector<uint64_t> keys_;  // 0 = empty (a NULL result is never stored)
  std::vector<V> vals_;
  uint32_t mask_;
  size_t count_ = 0;
  std::vector<std::pair<int64_t, V>> big_;  // keys >= 2^53 (BigInts in the JS): rare, linear
};

}  // namespace mp
