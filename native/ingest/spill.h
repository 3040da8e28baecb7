// The spill threads of memoplan-ingest, one per traced process: while the ingest stores a
// backlog, they keep the writers' kept chunks coming back to them (TraceReader::spillFull), so
// that a target faster than the ingest writes in place instead of faulting in fresh pages. Each
// sleeps on its trace header's futex word until a writer fills a kept chunk.
#pragma once
#include <atomic>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>
#include "reader.h"

namespace mp {

class Spiller {
 public:
  Spiller() = default;
  ~Spiller() { stop(); }
  Spiller(const Spiller&) = delete;
  Spiller& operator=(const Spiller&) = delete;
  // Watches reader from now on, in a thread of its own. The reader outlives stop().
  void add(TraceReader* reader);
  // Ends the threads (idempotent); no reader is touched after it returns.
  void stop();

 private:
  struct Worker {
    TraceReader* reader;
    std::thread thread;
  };
  void run(TraceReader* reader);
  std::mutex mu_;
  std::vector<std::unique_ptr<Worker>> workers_;
  std::atomic<bool> stopping_{false};
};

}  // namespace mp
