// Whether the process that writes a trace file is done with it, for an ingester whose parent
// died (main.cpp): it keeps storing until every writer is done, then ends the session itself.
#pragma once
#include <string>

namespace mp {

// True when the trace file's writer cannot add records any more: the header says it exited
// cleanly or detached (flags bit0), or no process maps the file. The writer is the process of
// the pid in the name trace-<pid>-<start_ns>.mpt, which maps the header page MAP_SHARED for as
// long as it records (docs/TRACE_FORMAT.md); /proc/<pid>/maps names the file there. An exec,
// an exit or a kill drops the mapping, and a reused pid does not map our file.
bool traceWriterDone(const std::string& file, bool cleanExit);

}  // namespace mp
