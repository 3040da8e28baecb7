// GOT/PLT patching for attach mode (memoplan attach PID). See got.cpp.
#pragma once
#include <stdint.h>

namespace got {

struct Hook {
  const char* name;  // symbol name, e.g. "malloc"
  void* wrapper;     // our function
  void* real;        // what the slots are bound to (the definition in the global scope)
};

struct Stats {
  uint32_t objects;  // objects scanned (cumulative while attached)
  uint32_t slots;    // slots currently patched
  uint32_t skipped;  // slots bound to something else than `real` (left alone)
};

// Points every R_X86_64_JUMP_SLOT / R_X86_64_GLOB_DAT slot named by a hook, in every loaded
// object not yet scanned (except `self_base`'s object, the vDSO and the dynamic loader), at
// hook.wrapper, remembering the old value. Only slots holding hook.real, or a lazy-binding
// stub inside their own object, are patched. Thread-safe; may be called again after more
// objects were loaded (the dlopen hook does). Returns the number of slots patched by this call.
int patch_new(const Hook* hooks, int n, uintptr_t self_base);

// Writes back every remembered value whose slot still lies inside a loaded object and still
// holds our wrapper. Forgets everything. Returns the number of slots restored.
int restore_all();

Stats stats();

}  // namespace got
