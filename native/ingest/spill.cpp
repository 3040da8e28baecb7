#include "spill.h"
#include <stdexcept>

namespace mp {

void Spiller::add(TraceReader* reader) {
  std::lock_guard<std::mutex> lock(mu_);
  if (stopping_) return;
  auto w = std::make_unique<Worker>();
  w->reader = reader;
  w->thread = std::thread([this, reader] { run(reader); });
  workers_.push_back(std::move(w));
}

void Spiller::stop() {
  std::lock_guard<std::mutex> lock(mu_);
  stopping_ = true;
  for (auto& w : workers_) w->reader->spillWake();
  for (auto& w : workers_)
    if (w->thread.joinable()) w->thread.join();
  workers_.clear();
}

// Copies whatever is due, then sleeps until a writer fills a kept chunk (woken by the
// interposer), at most 50 ms (a process whose header is not mapped yet, or a missed wake).
void Spiller::run(TraceReader* reader) {
  while (!stopping_) {
    size_t copied = 0;
    try {
      copied = reader->spillFull();
    } catch (const std::exception&) {
      // A file that cannot be read here is reported by the ingest itself: nothing to copy.
    }
    if (!copied && !stopping_) reader->spillWait(50);
  }
}

}  // namespace mp
