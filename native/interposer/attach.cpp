// libmemoplan.so: attach mode, memoplan_attach/memoplan_detach/memoplan_attached (called by
// gdb, main/session/gdb.ts): recording a process that is already running.
//
// memoplan attach PID: gdb stops the target at a safe point (docs in main/session/attach.ts),
// dlopen()s this library (RTLD_NOW | RTLD_LOCAL: nothing binds to our malloc by name) and
// calls memoplan_attach(). That creates a new trace file pair (header flags bit3: attached,
// the trace covers the process from now on), turns recording on, then points the
// malloc-family and dlopen slots of every loaded object's GOT at our wrappers (got.cpp) and
// starts the Python agent in a thread of its own. memoplan_detach() undoes it. The library
// is never unloaded: wrappers that a thread is still running, or whose address an object
// took while attached, keep forwarding to the real functions.
//
// * Real functions. The wrappers' reals are the definitions the slots were bound to: the
//   first definition in the global scope (dlsym RTLD_DEFAULT: glibc's, or a preloaded
//   allocator's). Not ours (a preloaded copy of this library: then nothing is patched, the
//   symbols already interpose), and not a canonical PLT entry of a non-PIE executable
//   (which jumps through a slot we patch: then libc.so.6's own definition is used).
// * Blocks allocated before attach are freed through our free: the free is recorded (the
//   ingest counts it as unmatched) and handed to the same real free. Blocks allocated while
//   attached are freed after detach by the real free directly.
// * Thread states survive detach (other threads' TLS cannot be reset from here). Each
//   attach bumps g_epoch and sets every registered state's `end` to null (the fast path
//   compares cur < end, so the owner falls into the slow path), and the owner renews its
//   state there (renew_thread: old chunk unmapped, counters and scope stack cleared).
// * Detach order: agent uninstall requested, slots restored, recording off, a 20 ms grace
//   period for a thread that passed the on-check just before, header counters summed
//   (flags bit0), header unmapped and files closed. A thread preempted for longer than the
//   grace period inside record() may still commit one record into the closed-out chunk.
// * dlopen hook. glibc's dlopen looks at its return address to choose the caller's
//   RUNPATH and namespace, so the hook calls it with a return address inside the caller's
//   own code (a `ret` byte found in the caller's page, which then returns to us), and then
//   scans the objects loaded by the call. Objects loaded by libc or ld.so internally (NSS,
//   iconv modules) are patched at the next hooked dlopen.
// * Plan mode cannot be attached (the plan must be loaded before the first allocation).

#include <dlfcn.h>
#include <errno.h>
#include <link.h>
#include <pthread.h>
#include <stdint.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "got.h"
#include "record.h"

using namespace mpr;

namespace {

constexpr size_t kCodeMap = 256 * 1024;  // one agent job's Python source

struct PyApi {
  int (*is_init)(void);
  int (*ensure)(void);
  void (*release)(int);
  int (*run)(const char*);
};

bool py_api(PyApi* a) {
  a->is_init = (int (*)(void))dlsym(RTLD_DEFAULT, "Py_IsInitialized");
  a->ensure = (int (*)(void))dlsym(RTLD_DEFAULT, "PyGILState_Ensure");
  a->release = (void (*)(int))dlsym(RTLD_DEFAULT, "PyGILState_Release");
  a->run = (int (*)(const char*))dlsym(RTLD_DEFAULT, "PyRun_SimpleString");
  return a->is_init && a->ensure && a->release && a->run;
}

// Runs one snippet of Python in a new thread of its own: PyGILState_Ensure gives that
// thread a thread state and waits for the GIL like any native thread calling into Python,
// so the interpreter is entered at one of its own switch points, never inside whatever the
// thread that gdb interrupted was doing.
void* agent_thread(void* arg) {
  char* code = (char*)arg;
  PyApi api;
  if (py_api(&api) && api.is_init()) {
    int st = api.ensure();
    api.run(code);
    api.release(st);
  }
  munmap(code, kCodeMap);
  return nullptr;
}

char* put_hex(char* p, char* end, const char* s) {
  static const char digits[] = "0123456789abcdef";
  for (; *s && p + 2 < end; s++) {
    unsigned char c = (unsigned char)*s;
    *p++ = digits[c >> 4];
    *p++ = digits[c & 15];
  }
  return p;
}

// exec(bytes.fromhex('<inner>').decode(), {}): runs `inner` without touching __main__.
bool start_agent_job(const char* inner) {
  char* code = (char*)mmap(nullptr, kCodeMap, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (code == MAP_FAILED) return false;
  char* end = code + kCodeMap - 64;
  char* p = put_str(code, end, "exec(bytes.fromhex('");
  p = put_hex(p, end, inner);
  p = put_str(p, end, "').decode('utf-8', 'surrogateescape'), {'__name__': 'memoplan_attach'})");
  *p = 0;
  pthread_attr_t attr;
  pthread_attr_init(&attr);
  pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
  pthread_t t;
  int rc = pthread_create(&t, &attr, agent_thread, code);
  pthread_attr_destroy(&attr);
  if (rc != 0) { munmap(code, kCodeMap); return false; }
  pthread_setname_np(t, "memoplan-agent");
  return true;
}

// Python source, built without the allocator (static buffer, called under g_attach_lock).
char g_src[64 * 1024];
char* src_hexstr(char* p, char* end, const char* s) {  // bytes.fromhex('..').decode(...)
  p = put_str(p, end, "bytes.fromhex('");
  p = put_hex(p, end, s);
  return put_str(p, end, "').decode('utf-8', 'surrogateescape')");
}

pthread_mutex_t g_attach_lock = PTHREAD_MUTEX_INITIALIZER;
int g_preloaded;          // this library interposes by symbol already (LD_PRELOAD)
int g_agent_started;      // this attach started the Python agent
uint32_t g_attach_gen;
char g_self_path[4096];
void* g_self;             // dlopen handle of this library
void* g_real_dlopen;

enum {
  H_MALLOC, H_CALLOC, H_REALLOC, H_REALLOCARRAY, H_FREE, H_POSIX_MEMALIGN, H_ALIGNED_ALLOC,
  H_MEMALIGN, H_VALLOC, H_PVALLOC, H_USABLE, H_DLOPEN, H_COUNT
};
const char* const kHookNames[H_COUNT] = {
    "malloc", "calloc", "realloc", "reallocarray", "free", "posix_memalign", "aligned_alloc",
    "memalign", "valloc", "pvalloc", "malloc_usable_size", "dlopen"};
got::Hook g_hooks[H_COUNT];
int g_nhooks;

struct ExeRange { uintptr_t lo, hi; };
int exe_cb(struct dl_phdr_info* info, size_t, void* arg) {
  ExeRange* r = (ExeRange*)arg;
  r->lo = ~(uintptr_t)0;
  r->hi = 0;
  for (int i = 0; i < info->dlpi_phnum; i++) {
    const ElfW(Phdr)& ph = info->dlpi_phdr[i];
    if (ph.p_type != PT_LOAD) continue;
    uintptr_t a = info->dlpi_addr + ph.p_vaddr;
    if (a < r->lo) r->lo = a;
    if (a + ph.p_memsz > r->hi) r->hi = a + ph.p_memsz;
  }
  return 1;  // the first object is the executable
}

void* find_real(const char* name, void* libc, ExeRange exe) {
  void* a = dlsym(RTLD_DEFAULT, name);
  void* b = libc ? dlsym(libc, name) : nullptr;
  void* self = g_self ? dlsym(g_self, name) : nullptr;
  if (!a || a == self) return b;
  if ((uintptr_t)a >= exe.lo && (uintptr_t)a < exe.hi && b) return b;  // canonical PLT entry
  return a;
}

extern "C" void* mp_call_with_ra(void* fn, const void* a0, intptr_t a1, const void* ra);
// mp_call_with_ra(fn, a0, a1, ra): fn(a0, a1) with `ra` as its return address; ra must point
// at a `ret` instruction, which returns to us. Keeps the stack 16-byte aligned at fn's entry.
asm(R"(
  .text
  .p2align 4
  .type mp_call_with_ra,@function
mp_call_with_ra:
  .cfi_startproc
  pushq %rbx
  .cfi_adjust_cfa_offset 8
  .cfi_rel_offset %rbx, 0
  subq $8, %rsp
  .cfi_adjust_cfa_offset 8
  movq %rdi, %rax
  movq %rsi, %rdi
  movq %rdx, %rsi
  leaq 1f(%rip), %rbx
  pushq %rbx
  pushq %rcx
  jmp *%rax
1:
  addq $8, %rsp
  popq %rbx
  ret
  .cfi_endproc
  .size mp_call_with_ra, .-mp_call_with_ra
)");

// A `ret` byte in the page of `ra` (the caller's code), or null.
const void* ret_gadget(const void* ra) {
  uintptr_t page = (uintptr_t)ra & ~(uintptr_t)4095;
  const unsigned char* p = (const unsigned char*)ra;
  for (const unsigned char* q = p; (uintptr_t)q < page + 4096; q++)
    if (*q == 0xc3) return q;
  for (const unsigned char* q = p; (uintptr_t)q >= page; q--)
    if (*q == 0xc3) return q;
  return nullptr;
}

NOINLINE void* hook_dlopen(const char* file, int mode) {
  const void* gadget = ret_gadget(__builtin_return_address(0));
  void* h = gadget ? mp_call_with_ra(g_real_dlopen, file, mode, gadget)
                   : ((void* (*)(const char*, int))g_real_dlopen)(file, mode);
  if (__atomic_load_n(&g_attached, __ATOMIC_ACQUIRE) && !g_preloaded) {
    int saved = errno;
    got::patch_new(g_hooks, g_nhooks, (uintptr_t)(void*)&hook_dlopen);
    errno = saved;
  }
  return h;
}

bool resolve_attach() {
  Dl_info di;
  if (!g_self) {
    if (!dladdr((void*)&hook_dlopen, &di) || !di.dli_fname) return false;
    size_t n = strlen(di.dli_fname);
    if (n >= sizeof g_self_path) return false;
    memcpy(g_self_path, di.dli_fname, n + 1);
    g_self = dlopen(g_self_path, RTLD_NOW | RTLD_NOLOAD);
    if (!g_self) return false;
  }
  void* ours = dlsym(g_self, "malloc");
  g_preloaded = dlsym(RTLD_DEFAULT, "malloc") == ours;
  if (g_preloaded) return true;  // the symbols interpose already: nothing to patch
  void* libc = dlopen("libc.so.6", RTLD_NOW | RTLD_NOLOAD);
  ExeRange exe = {0, 0};
  dl_iterate_phdr(exe_cb, &exe);
  void* r[H_COUNT];
  for (int i = 0; i < H_COUNT; i++) r[i] = find_real(kHookNames[i], libc, exe);
  if (!r[H_MALLOC] || !r[H_FREE] || !r[H_CALLOC] || !r[H_REALLOC] || !r[H_DLOPEN]) return false;
  g_nhooks = 0;
  for (int i = 0; i < H_COUNT; i++) {
    void* w = i == H_DLOPEN ? (void*)&hook_dlopen : dlsym(g_self, kHookNames[i]);
    if (!r[i] || !w) continue;
    g_hooks[g_nhooks++] = got::Hook{kHookNames[i], w, r[i]};
  }
  real_posix_memalign = (posix_memalign_fn)r[H_POSIX_MEMALIGN];
  real_aligned_alloc = (aligned_fn)r[H_ALIGNED_ALLOC];
  real_memalign = (aligned_fn)r[H_MEMALIGN];
  real_valloc = (valloc_fn)r[H_VALLOC];
  real_pvalloc = (valloc_fn)r[H_PVALLOC];
  if (r[H_USABLE]) real_usable = (usable_fn)r[H_USABLE];
  g_real_dlopen = r[H_DLOPEN];
  g.free_ = (free_fn)r[H_FREE];
  g.calloc_ = (calloc_fn)r[H_CALLOC];
  g.realloc_ = (realloc_fn)r[H_REALLOC];
  __atomic_store_n(&g.malloc_, (malloc_fn)r[H_MALLOC], __ATOMIC_RELEASE);
  return true;
}

}  // namespace

// Return: >= 0 attached: bit0 the Python agent was started, bit1 Python is linked in but not
// initialised, bits 4.. the number of GOT slots patched. < 0 refused, nothing changed:
// -1 not a directory, -2 already recording (launched under memoplan record), -3 plan mode,
// -4 the real allocator functions cannot be found, -5 the trace file cannot be created,
// -6 already attached. flags: bit0 attribute aten ops.
EXPORT int memoplan_attach(const char* trace_dir, const char* agent_dir, int flags) {
  int saved = errno;
  pthread_mutex_lock(&g_attach_lock);
  int rc = 0;
  struct stat st;
  size_t len = trace_dir ? strlen(trace_dir) : 0;
  if (__atomic_load_n(&g_attached, __ATOMIC_ACQUIRE)) rc = -6;
  else if (g_configured && !g_attach_mode) rc = -2;
  else if (g.plan) rc = -3;
  else if (!len || len >= sizeof g_dir - 64 || stat(trace_dir, &st) != 0 || !S_ISDIR(st.st_mode)) rc = -1;
  else if (!resolve_attach()) rc = -4;
  if (rc) goto out;
  memcpy(g_dir, trace_dir, len + 1);
  if (!g_attach_mode) {
    if (!g_key_ok && pthread_key_create(&g_key, thread_dtor) == 0) g_key_ok = 1;
    if (!g.clock_tsc) calibrate_clock();
    pthread_atfork(atfork_prepare, atfork_parent, atfork_child);
  }
  // New attach generation: every existing thread state renews itself at its next event.
  __atomic_add_fetch(&g_epoch, 1, __ATOMIC_ACQ_REL);
  for (ThreadState* ts = __atomic_load_n(&g_threads, __ATOMIC_ACQUIRE); ts; ts = ts->next)
    __atomic_store_n(&ts->end, (Record*)nullptr, __ATOMIC_RELAXED);
  if (!open_trace(MP_TRACE_ATTACHED, (uint32_t)getppid(), -1)) { rc = -5; goto out; }
  g_configured = 1;
  g_attach_mode = 1;
  g_attach_gen++;
  __atomic_store_n(&g_attached, 1, __ATOMIC_RELEASE);
  __atomic_store_n(&g.on, 1, __ATOMIC_RELEASE);
  if (!g_preloaded) {
    got::patch_new(g_hooks, g_nhooks, (uintptr_t)(void*)&hook_dlopen);
    rc = (int)(got::stats().slots << 4);
  }
  g_agent_started = 0;
  if (agent_dir && *agent_dir) {
    PyApi api;
    if (py_api(&api)) {
      if (!api.is_init()) {
        rc |= 2;
      } else {
        char status[4200];
        char* e = status + sizeof status - 8;
        char* q = put_str(status, e, g_dir);
        q = put_str(q, e, "/agent-");
        q = put_u64(q, e, g_attach_gen);
        q = put_str(q, e, ".status");
        *q = 0;
        char* end = g_src + sizeof g_src - 64;
        char* p = put_str(g_src, end, "import os, sys\nstatus = ");
        p = src_hexstr(p, end, status);
        p = put_str(p, end, "\ntry:\n    p = ");
        p = src_hexstr(p, end, agent_dir);
        p = put_str(p, end,
                    "\n    if p not in sys.path:\n        sys.path.insert(0, p)\n"
                    "    import memoplan_agent\n    memoplan_agent._attached(");
        p = src_hexstr(p, end, g_self_path);
        p = put_str(p, end, ", ");
        p = put_u64(p, end, g_attach_gen);
        p = put_str(p, end, (flags & 1) ? ", True, status)\n" : ", False, status)\n");
        p = put_str(p, end,
                    "except BaseException as err:\n"
                    "    with open(status + '.tmp', 'w') as f:\n"
                    "        f.write('error %s: %s\\n' % (type(err).__name__, err))\n"
                    "    os.replace(status + '.tmp', status)\n");
        *p = 0;
        if (p < end && start_agent_job(g_src)) {
          g_agent_started = 1;
          rc |= 1;
        }
      }
    }
  }
out:
  pthread_mutex_unlock(&g_attach_lock);
  errno = saved;
  return rc;
}

// Return: >= 0 the number of GOT slots restored; -6 not attached.
EXPORT int memoplan_detach(void) {
  int saved = errno;
  pthread_mutex_lock(&g_attach_lock);
  int rc = 0;
  if (!__atomic_load_n(&g_attached, __ATOMIC_ACQUIRE)) {
    rc = -6;
  } else {
    if (g_agent_started) {
      char* end = g_src + sizeof g_src - 64;
      char* p = put_str(g_src, end, "import sys\nm = sys.modules.get('memoplan_agent')\nif m is not None:\n    m._detached(");
      p = put_u64(p, end, g_attach_gen);
      p = put_str(p, end, ")\n");
      *p = 0;
      start_agent_job(g_src);
      g_agent_started = 0;
    }
    if (!g_preloaded) rc = got::restore_all();
    __atomic_store_n(&g.on, 0, __ATOMIC_RELEASE);
    struct timespec grace = {0, 20000000};
    while (nanosleep(&grace, &grace) != 0 && errno == EINTR) {}
    Header* h = g_hdr;
    if (h) {
      plan_header_status();
      finalize_header(h);
      g_hdr = nullptr;
      munmap(h, kHeaderMap);
    }
    if (g_fd >= 0) close(g_fd);
    if (g_names_fd >= 0) close(g_names_fd);
    g_fd = g_names_fd = -1;
    __atomic_store_n(&g_attached, 0, __ATOMIC_RELEASE);
  }
  pthread_mutex_unlock(&g_attach_lock);
  errno = saved;
  return rc;
}

// 1 while memoplan_attach is in effect.
EXPORT int memoplan_attached(void) { return __atomic_load_n(&g_attached, __ATOMIC_ACQUIRE); }
