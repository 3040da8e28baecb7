// Whether the process that writes a trace file is done with it, for an ingester whose parent
// died (main.cpp): it keeps storing until every writer is done, then ends the session itself.
#pragma once
#include <cstdint>
#include <string>

namespace mp {

// True when the trace file's writer cannot add records any more: the header says it exited
// cleanly or detached (flags bit0), or no process maps the file. The writer is the process of
// the pid in the name trace-<pid>-<start_ns>.mpt, which maps the header page MAP_SHARED for as
// long as it records (docs/TRACE_FORMAT.md); /proc/<pid>/maps names the file there. An exec,
// an exit or a kill drops the mapping, and a reused pid does not map our file.
bool traceWriterDone(const std::string& file, bool cleanExit);

// Whether the trace file's writer still runs: the process of the pid in its name maps it.
// Sets *pid to that pid.
bool traceWriterRunning(const std::string& file, long* pid);

// Whether thread tid of a running writer has ended: /proc/<pid>/task/<tid> is gone. Then none
// of the thread's chunks gets another record (a new thread never takes an old chunk, even with
// the same tid). Ask only about a writer traceWriterRunning just confirmed, so that pid is
// ours in our /proc (not another pid namespace's).
bool taskGone(long pid, uint32_t tid);

}  // namespace mp
