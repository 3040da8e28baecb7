// libmemoplan.so: C++ operator new and delete, as libstdc++ implements them (GCC 12,
// libsupc++/new_op*.cc, del_op*.cc), on the malloc family of this library.
//
// Why: an allocator preloaded beneath us (LD_PRELOAD=libmemoplan.so:libtcmalloc.so, the A/B's
// plan+tcmalloc arm) usually defines operator new/delete itself, calling its own malloc
// directly; the program's new/delete then bind to it and bypass us (unrecorded, unplanned),
// so a run over tcmalloc would make fewer visible allocations than its recording over glibc.
// Defined here, first in the search order, they call our malloc/aligned_alloc/free, which
// call the allocator beneath: the same visible sequence over any allocator, as with glibc
// (whose libstdc++ operator new calls malloc).
//
// Failure: a NULL from malloc is handed to the next definition of the same operator (the
// allocator's or libstdc++'s, found with dlsym RTLD_NEXT), which runs the new_handler loop and
// throws std::bad_alloc (nothrow forms: returns NULL). No exceptions or libstdc++ here: the
// symbols are defined by name (asm labels), not as C++ operators.
#include <dlfcn.h>
#include <stddef.h>
#include <stdlib.h>

#define EXPORT extern "C" __attribute__((visibility("default")))

namespace {
typedef void* (*new_fn)(size_t);
typedef void* (*new_nt_fn)(size_t, const void*);
typedef void* (*new_al_fn)(size_t, size_t);
typedef void* (*new_al_nt_fn)(size_t, size_t, const void*);

template <typename F>
F next(const char* name) {  // looked up on the rare failure path only
  return (F)dlsym(RTLD_NEXT, name);
}

// libstdc++: sz == 0 -> 1; align < sizeof(void*) -> sizeof(void*); sz rounded up to align.
void* aligned(size_t sz, size_t al) {
  if (al < sizeof(void*)) al = sizeof(void*);
  if (sz == 0) sz = 1;
  size_t r = (sz + al - 1) & ~(al - 1);
  if (r < sz) return nullptr;  // overflow
  return aligned_alloc(al, r);
}
}  // namespace

EXPORT void* mp_new(size_t n) __asm__("_Znwm");
EXPORT void* mp_new(size_t n) {
  if (void* p = malloc(n ? n : 1)) return p;
  new_fn f = next<new_fn>("_Znwm");
  return f ? f(n) : (abort(), nullptr);
}
EXPORT void* mp_new_arr(size_t n) __asm__("_Znam");
EXPORT void* mp_new_arr(size_t n) {
  if (void* p = malloc(n ? n : 1)) return p;
  new_fn f = next<new_fn>("_Znam");
  return f ? f(n) : (abort(), nullptr);
}
EXPORT void* mp_new_nt(size_t n, const void* t) __asm__("_ZnwmRKSt9nothrow_t");
EXPORT void* mp_new_nt(size_t n, const void* t) {
  if (void* p = malloc(n ? n : 1)) return p;
  new_nt_fn f = next<new_nt_fn>("_ZnwmRKSt9nothrow_t");
  return f ? f(n, t) : nullptr;
}
EXPORT void* mp_new_arr_nt(size_t n, const void* t) __asm__("_ZnamRKSt9nothrow_t");
EXPORT void* mp_new_arr_nt(size_t n, const void* t) {
  if (void* p = malloc(n ? n : 1)) return p;
  new_nt_fn f = next<new_nt_fn>("_ZnamRKSt9nothrow_t");
  return f ? f(n, t) : nullptr;
}
EXPORT void* mp_new_al(size_t n, size_t al) __asm__("_ZnwmSt11align_val_t");
EXPORT void* mp_new_al(size_t n, size_t al) {
  if (void* p = aligned(n, al)) return p;
  new_al_fn f = next<new_al_fn>("_ZnwmSt11align_val_t");
  return f ? f(n, al) : (abort(), nullptr);
}
EXPORT void* mp_new_arr_al(size_t n, size_t al) __asm__("_ZnamSt11align_val_t");
EXPORT void* mp_new_arr_al(size_t n, size_t al) {
  if (void* p = aligned(n, al)) return p;
  new_al_fn f = next<new_al_fn>("_ZnamSt11align_val_t");
  return f ? f(n, al) : (abort(), nullptr);
}
EXPORT void* mp_new_al_nt(size_t n, size_t al, const void* t) __asm__("_ZnwmSt11align_val_tRKSt9nothrow_t");
EXPORT void* mp_new_al_nt(size_t n, size_t al, const void* t) {
  if (void* p = aligned(n, al)) return p;
  new_al_nt_fn f = next<new_al_nt_fn>("_ZnwmSt11align_val_tRKSt9nothrow_t");
  return f ? f(n, al, t) : nullptr;
}
EXPORT void* mp_new_arr_al_nt(size_t n, size_t al, const void* t) __asm__("_ZnamSt11align_val_tRKSt9nothrow_t");
EXPORT void* mp_new_arr_al_nt(size_t n, size_t al, const void* t) {
  if (void* p = aligned(n, al)) return p;
  new_al_nt_fn f = next<new_al_nt_fn>("_ZnamSt11align_val_tRKSt9nothrow_t");
  return f ? f(n, al, t) : nullptr;
}

// Every delete form frees with free(), as libstdc++'s do (sizes and alignments are hints).
#define MP_DELETE(fn, sym, ...)                             \
  EXPORT void fn(void* p, ##__VA_ARGS__) __asm__(sym);      \
  EXPORT void fn(void* p, ##__VA_ARGS__) { free(p); }
MP_DELETE(mp_del, "_ZdlPv")
MP_DELETE(mp_del_arr, "_ZdaPv")
MP_DELETE(mp_del_sz, "_ZdlPvm", size_t)
MP_DELETE(mp_del_arr_sz, "_ZdaPvm", size_t)
MP_DELETE(mp_del_nt, "_ZdlPvRKSt9nothrow_t", const void*)
MP_DELETE(mp_del_arr_nt, "_ZdaPvRKSt9nothrow_t", const void*)
MP_DELETE(mp_del_al, "_ZdlPvSt11align_val_t", size_t)
MP_DELETE(mp_del_arr_al, "_ZdaPvSt11align_val_t", size_t)
MP_DELETE(mp_del_sz_al, "_ZdlPvmSt11align_val_t", size_t, size_t)
MP_DELETE(mp_del_arr_sz_al, "_ZdaPvmSt11align_val_t", size_t, size_t)
MP_DELETE(mp_del_al_nt, "_ZdlPvSt11align_val_tRKSt9nothrow_t", size_t, const void*)
MP_DELETE(mp_del_arr_al_nt, "_ZdaPvSt11align_val_tRKSt9nothrow_t", size_t, const void*)
