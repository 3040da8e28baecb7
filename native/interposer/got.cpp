// GOT/PLT patching for attach mode (memoplan attach PID).
//
// A library dlopen'ed into a running process interposes nothing: every object's calls to
// malloc & co. were bound, at load time or at the first lazy call, to the definition in the
// global scope (glibc's, or a preloaded allocator's). Those calls go through a slot of the
// calling object's GOT: an R_X86_64_JUMP_SLOT relocation for a PLT call, an
// R_X86_64_GLOB_DAT one for a -fno-plt call or a taken address. Pointing the slot at our
// wrapper redirects every later call of that object; writing the old value back undoes it.
//
// Hard cases:
// * RELRO. With -z relro (and -z now) the GOT is made read-only after relocation. The pages
//   of PT_GNU_RELRO (rounded down at both ends, as glibc's _dl_protect_relro does) are made
//   writable for the store and read-only again right after. A slot in a segment without
//   PF_W gets the same treatment with that segment's own protection.
// * Only slots bound to the expected definition are patched. A slot holding something else
//   (an object bound with RTLD_DEEPBIND, or to its own allocator) would pair our wrapper's
//   real free with another allocator's blocks: it is left alone and counted as skipped. A
//   lazy JUMP_SLOT not yet resolved points into its own object's PLT: it is patched (and
//   restored to the stub, so lazy binding resumes after detach).
// * Dynamic pointers. glibc rewrites the d_ptr values of a writable dynamic section to
//   absolute addresses, the vDSO's stay relative: a value below the load base is relative.
// * dlclose. A remembered slot of an object unloaded since is never touched again: restore
//   writes only into objects loaded at that moment, and only where the slot still holds our
//   wrapper. An object is scanned once per (base, program headers) while it stays loaded.
// * Concurrency. One mutex serialises patching (the dlopen hook may run on several threads).
//   The slot store is one aligned 8-byte store, so a thread calling through the slot at that
//   instant gets either the old or the new function, both correct.
// Memory comes from mmap, never from the allocator being patched.

#include "got.h"

#include <elf.h>
#include <link.h>
#include <pthread.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

namespace got {
namespace {

struct Entry {
  void** slot;
  void* orig;
  void* wrapper;
  uintptr_t base;
};
struct Obj {
  uintptr_t base;
  const void* phdr;
  uint32_t seen;  // generation of the last scan that found it loaded
};

Entry* g_entries;
size_t g_nentries, g_ecap;
Obj* g_objs;
size_t g_nobjs, g_ocap;
pthread_mutex_t g_lock = PTHREAD_MUTEX_INITIALIZER;
Stats g_stats;
uint32_t g_gen;

template <class T>
bool grow(T** arr, size_t* cap, size_t used) {
  size_t ncap = *cap ? *cap * 2 : 1024;
  void* m = mmap(nullptr, ncap * sizeof(T), PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (m == MAP_FAILED) return false;
  if (*arr) {
    memcpy(m, *arr, used * sizeof(T));
    munmap(*arr, *cap * sizeof(T));
  }
  *arr = (T*)m;
  *cap = ncap;
  return true;
}

int prot_of(uint32_t pf) {
  return (pf & PF_R ? PROT_READ : 0) | (pf & PF_W ? PROT_WRITE : 0) | (pf & PF_X ? PROT_EXEC : 0);
}

// The layout of one loaded object, from its program headers.
struct Layout {
  uintptr_t base, lo, hi;
  uintptr_t relro_lo, relro_hi;  // page range glibc made read-only (may be empty)
  const ElfW(Phdr) * phdr;
  int phnum;
  const ElfW(Dyn) * dyn;
};

bool layout_of(const struct dl_phdr_info* info, Layout* L) {
  uintptr_t page = (uintptr_t)sysconf(_SC_PAGESIZE);
  L->base = info->dlpi_addr;
  L->lo = ~(uintptr_t)0;
  L->hi = 0;
  L->relro_lo = L->relro_hi = 0;
  L->phdr = info->dlpi_phdr;
  L->phnum = info->dlpi_phnum;
  L->dyn = nullptr;
  for (int i = 0; i < info->dlpi_phnum; i++) {
    const ElfW(Phdr)& p = info->dlpi_phdr[i];
    if (p.p_type == PT_LOAD) {
      uintptr_t a = L->base + p.p_vaddr, b = a + p.p_memsz;
      if (a < L->lo) L->lo = a;
      if (b > L->hi) L->hi = b;
    } else if (p.p_type == PT_DYNAMIC) {
      L->dyn = (const ElfW(Dyn)*)(L->base + p.p_vaddr);
    } else if (p.p_type == PT_GNU_RELRO) {
      L->relro_lo = (L->base + p.p_vaddr) & ~(page - 1);
      L->relro_hi = (L->base + p.p_vaddr + p.p_memsz) & ~(page - 1);
    }
  }
  return L->dyn != nullptr && L->lo < L->hi;
}

// Stores v into *slot, lifting write protection around the store when needed.
bool store_slot(const Layout& L, void** slot, void* v) {
  uintptr_t page = (uintptr_t)sysconf(_SC_PAGESIZE);
  uintptr_t pg = (uintptr_t)slot & ~(page - 1);
  int restore = -1;
  if (pg >= L.relro_lo && pg < L.relro_hi) {
    restore = PROT_READ;
  } else {
    for (int i = 0; i < L.phnum; i++) {
      const ElfW(Phdr)& p = L.phdr[i];
      if (p.p_type != PT_LOAD) continue;
      uintptr_t a = L.base + p.p_vaddr;
      if ((uintptr_t)slot >= a && (uintptr_t)slot + sizeof(void*) <= a + p.p_memsz) {
        if (!(p.p_flags & PF_W)) restore = prot_of(p.p_flags);
        break;
      }
    }
  }
  if (restore >= 0 && mprotect((void*)pg, page, PROT_READ | PROT_WRITE) != 0) return false;
  __atomic_store_n(slot, v, __ATOMIC_RELEASE);
  if (restore >= 0) mprotect((void*)pg, page, restore);
  return true;
}

bool skip_object(const struct dl_phdr_info* info, uintptr_t self_addr, const Layout& L) {
  if (self_addr >= L.lo && self_addr < L.hi) return true;  // ourselves
  const char* n = info->dlpi_name;
  if (n && (strstr(n, "linux-vdso") || strstr(n, "linux-gate") || strstr(n, "/ld-linux") ||
            strncmp(n, "ld-linux", 8) == 0))
    return true;
  return false;
}

struct PatchCtx {
  const Hook* hooks;
  int n;
  uintptr_t self_addr;
  int patched;
};

void scan_relocs(const Layout& L, PatchCtx* c, const ElfW(Rela) * rel, size_t count,
                 const ElfW(Sym) * symtab, const char* strtab) {
  for (size_t i = 0; i < count; i++) {
    uint32_t type = (uint32_t)ELF64_R_TYPE(rel[i].r_info);
    if (type != R_X86_64_JUMP_SLOT && type != R_X86_64_GLOB_DAT) continue;
    uint32_t si = (uint32_t)ELF64_R_SYM(rel[i].r_info);
    if (si == 0) continue;
    const char* name = strtab + symtab[si].st_name;
    int h = -1;
    for (int k = 0; k < c->n; k++) {
      if (name[0] == c->hooks[k].name[0] && strcmp(name, c->hooks[k].name) == 0) { h = k; break; }
    }
    if (h < 0) continue;
    void** slot = (void**)(L.base + rel[i].r_offset);
    if ((uintptr_t)slot < L.lo || (uintptr_t)slot + sizeof(void*) > L.hi) continue;
    void* v = __atomic_load_n(slot, __ATOMIC_ACQUIRE);
    const Hook& hk = c->hooks[h];
    if (v == hk.wrapper) continue;  // already ours
    bool lazy_stub = (uintptr_t)v >= L.lo && (uintptr_t)v < L.hi;
    if (v != hk.real && !lazy_stub) { g_stats.skipped++; continue; }
    if (g_nentries == g_ecap && !grow(&g_entries, &g_ecap, g_nentries)) return;
    if (!store_slot(L, slot, hk.wrapper)) { g_stats.skipped++; continue; }
    g_entries[g_nentries++] = Entry{slot, v, hk.wrapper, L.base};
    g_stats.slots++;
    c->patched++;
  }
}

void patch_object(const Layout& L, PatchCtx* c) {
  uintptr_t symtab = 0, strtab = 0, jmprel = 0, pltrelsz = 0, rela = 0, relasz = 0, relaent = 0;
  intptr_t pltrel = DT_RELA;
  for (const ElfW(Dyn)* d = L.dyn; d->d_tag != DT_NULL; d++) {
    switch (d->d_tag) {
      case DT_SYMTAB: symtab = d->d_un.d_ptr; break;
      case DT_STRTAB: strtab = d->d_un.d_ptr; break;
      case DT_JMPREL: jmprel = d->d_un.d_ptr; break;
      case DT_PLTRELSZ: pltrelsz = d->d_un.d_val; break;
      case DT_PLTREL: pltrel = (intptr_t)d->d_un.d_val; break;
      case DT_RELA: rela = d->d_un.d_ptr; break;
      case DT_RELASZ: relasz = d->d_un.d_val; break;
      case DT_RELAENT: relaent = d->d_un.d_val; break;
      default: break;
    }
  }
  auto fix = [&](uintptr_t p) { return p && p < L.base ? p + L.base : p; };
  symtab = fix(symtab);
  strtab = fix(strtab);
  jmprel = fix(jmprel);
  rela = fix(rela);
  if (!symtab || !strtab) return;
  const ElfW(Sym)* syms = (const ElfW(Sym)*)symtab;
  const char* strs = (const char*)strtab;
  if (jmprel && pltrel == DT_RELA)
    scan_relocs(L, c, (const ElfW(Rela)*)jmprel, pltrelsz / sizeof(ElfW(Rela)), syms, strs);
  if (rela && (relaent == 0 || relaent == sizeof(ElfW(Rela))))
    scan_relocs(L, c, (const ElfW(Rela)*)rela, relasz / sizeof(ElfW(Rela)), syms, strs);
}

int patch_cb(struct dl_phdr_info* info, size_t, void* arg) {
  PatchCtx* c = (PatchCtx*)arg;
  Layout L;
  if (!layout_of(info, &L)) return 0;
  for (size_t i = 0; i < g_nobjs; i++) {
    if (g_objs[i].base == L.base && g_objs[i].phdr == (const void*)info->dlpi_phdr) {
      g_objs[i].seen = g_gen;
      return 0;  // scanned already
    }
  }
  if (g_nobjs == g_ocap && !grow(&g_objs, &g_ocap, g_nobjs)) return 0;
  g_objs[g_nobjs++] = Obj{L.base, info->dlpi_phdr, g_gen};
  if (skip_object(info, c->self_addr, L)) return 0;
  g_stats.objects++;
  patch_object(L, c);
  return 0;
}

struct RestoreCtx {
  int restored;
};

int restore_cb(struct dl_phdr_info* info, size_t, void* arg) {
  RestoreCtx* c = (RestoreCtx*)arg;
  Layout L;
  if (!layout_of(info, &L)) return 0;
  for (size_t i = 0; i < g_nentries; i++) {
    Entry& e = g_entries[i];
    if (!e.slot || e.base != L.base) continue;
    if ((uintptr_t)e.slot < L.lo || (uintptr_t)e.slot + sizeof(void*) > L.hi) continue;
    if (__atomic_load_n(e.slot, __ATOMIC_ACQUIRE) == e.wrapper && store_slot(L, e.slot, e.orig))
      c->restored++;
    e.slot = nullptr;
  }
  return 0;
}

}  // namespace

int patch_new(const Hook* hooks, int n, uintptr_t self_base) {
  pthread_mutex_lock(&g_lock);
  PatchCtx c = {hooks, n, self_base, 0};
  g_gen++;
  dl_iterate_phdr(patch_cb, &c);
  // Forget objects unloaded since (a new object at the same place gets scanned).
  size_t w = 0;
  for (size_t i = 0; i < g_nobjs; i++)
    if (g_objs[i].seen == g_gen) g_objs[w++] = g_objs[i];
  g_nobjs = w;
  pthread_mutex_unlock(&g_lock);
  return c.patched;
}

int restore_all() {
  pthread_mutex_lock(&g_lock);
  RestoreCtx c = {0};
  dl_iterate_phdr(restore_cb, &c);
  g_nentries = 0;
  g_nobjs = 0;
  g_stats = Stats{0, 0, 0};
  pthread_mutex_unlock(&g_lock);
  return c.restored;
}

Stats stats() {
  pthread_mutex_lock(&g_lock);
  Stats s = g_stats;
  pthread_mutex_unlock(&g_lock);
  return s;
}

}  // namespace got
