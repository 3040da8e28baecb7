// The events of a poll (and those kept for the next), in read order: a list of fixed blocks,
// so a backlog of millions never moves once written and blocks are reused between polls.
#pragma once
#include <memory>
#include <utility>
#include <vector>
#include "common.h"

namespace mp {

class EventBuffer {
 public:
  static constexpr size_t SHIFT = 16, BLOCK = size_t(1) << SHIFT, MASK = BLOCK - 1;
  static constexpr size_t KEEP_BLOCKS = 8;  // kept after clear(): 24 MiB

  size_t size() const { return n_; }
  const StreamEvent& operator[](size_t i) const { return blocks_[i >> SHIFT][i & MASK]; }
  StreamEvent& next() {  // a new slot at the end
    if (n_ == blocks_.size() * BLOCK) blocks_.emplace_back(new StreamEvent[BLOCK]);
    StreamEvent& e = blocks_[n_ >> SHIFT][n_ & MASK];
    n_++;
    return e;
  }
  void push(const StreamEvent& e) { next() = e; }
  void clear() {
    n_ = 0;
    if (blocks_.size() > KEEP_BLOCKS) blocks_.resize(KEEP_BLOCKS);
  }
  void swap(EventBuffer& o) {
    blocks_.swap(o.blocks_);
    std::swap(n_, o.n_);
  }
  // Calls f(const StreamEvent*, count) for each block's filled part, in order.
  template <class F>
  void forEachSpan(F f) const {
    for (size_t b = 0; b * BLOCK < n_; b++) f(blocks_[b].get(), std::min(BLOCK, n_ - b * BLOCK));
  }

 private:
  std::vector<std::unique_ptr<StreamEvent[]>> blocks_;
  size_t n_ = 0;
};

}  // namespace mp
